package validate

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/serviceping/serviceping/pkg/pinggen"
)

const docsExample = "../../../../testdata/payloads/docs_example.json"

// The scanner takes real pings itself: generated full-size ones and the
// documentation's example, with the walker's fields.
func TestScanTakesPings(t *testing.T) {
	t.Parallel()
	gen, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile(docsExample)
	if err != nil {
		t.Fatal(err)
	}
	bodies := [][]byte{docs}
	for i := range 5 {
		bodies = append(bodies, gen.JSON(pinggen.Spec{Instance: i}))
	}
	for i, body := range bodies {
		lim := DefaultLimits()
		got, ok := scanPing(body, lim)
		if !ok {
			t.Fatalf("body %d: the scanner left a valid ping to the walker", i)
		}
		want, err := walkPing(body, lim)
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		if got != want {
			t.Fatalf("body %d: scanner read %+v, walker %+v", i, got, want)
		}
		if !got.Score.HasActiveUsers && i > 0 {
			t.Fatalf("body %d: no active_user_count read", i)
		}
	}
}

const head = `{"uuid":"u-1","recorded_at":"2026-01-05 10:00:00 UTC","version":"18.0.0"`

// scanCases are bodies the scanner decides itself (take) and ones it must
// leave to the walker: every invalid body, and the rare valid shapes it
// does not handle.
var scanCases = []struct {
	body string
	take bool
}{
	{head + `}`, true},
	{" \t\r\n" + head + `,"a" : [ ] , "b" : { } } ` + "\n", true},
	{head + `,"s":"é\u00e9\n\t\"\\\/\b\f\r ☃ 😀"}`, true},
	{head + `,"n":[0,-0,1.5,-2e10,1E+3,3e-7,123456789012345678901234567890]}`, true},
	{head + `,"counts":{"issues":5,"notes":-1,"x":{"issues":9}},"active_user_count":12}`, true},
	{head + `,"counts":null,"settings":null,"license":{}}`, true},
	{head + `,"a":{"b":1},"c":{"b":2}}`, true},
	{head + `,"":1}`, true},
	{head + `,"a":[true,false,null,"x",{"y":[]}]}`, true},
	{head + `,"a":{` + ManyNames(40) + `}}`, true},

	// Valid, left to the walker.
	{head + `,"\u0061":1}`, false},
	{`{"uuid":"\u0075-1","recorded_at":"2026-01-05 10:00:00 UTC","version":"18.0.0"}`, false},
	{head + `,"s":"\ud83d\ude00"}`, false},
	{head + `,"n":1e400}`, false},
	{head + `,"n":1` + strings.Repeat("0", 400) + `}`, false},

	// Invalid.
	{head + `,"s":"\ud800"}`, false},
	{head + `,"a":1,"a":2}`, false},
	{head + `,"a":{` + ManyNames(40) + `,"n7":0}}`, false},
	{head + `} {}`, false},
	{head + `,}`, false},
	{head + `,"a":[1,]}`, false},
	{head + `,"a":01}`, false},
	{head + `,"a":1.}`, false},
	{head + `,"a":.5}`, false},
	{head + `,"a":-}`, false},
	{head + `,"a":1e}`, false},
	{head + `,"a":+1}`, false},
	{head + `,"a":tru}`, false},
	{head + `,"a":truex}`, false},
	{head + `,"a":nul}`, false},
	{head + `,"a":"\x"}`, false},
	{head + `,"a":"\u12"}`, false},
	{head + "," + `"a":"` + "\x01" + `"}`, false},
	{head + "," + `"a":"` + "\xff" + `"}`, false},
	{head + "," + `"a":"` + "\xed\xa0\x80" + `"}`, false},
	{head + "," + `"a":"` + "\xc0\xaf" + `"}`, false},
	{head + `,"a":"x}`, false},
	{head + `,"a" 1}`, false},
	{head + `,a:1}`, false},
	{head + `,"license":"x"}`, false},
	{head + `,"counts":[]}`, false},
	{head + `,"uuid":1}`, false},
	{head, false},
	{"\ufeff" + head + `}`, false},
	{`[]`, false},
	{``, false},
}

// ManyNames is n distinct members, "n0":0 to "n<n-1>":<n-1> (exported for
// the package's external tests).
func ManyNames(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"n%d":%d`, i, i)
	}
	return strings.Join(parts, ",")
}

// TestScanDecides: the scanner takes the common valid shapes and leaves
// everything else to the walker; what it takes the walker accepts with
// the same fields.
func TestScanDecides(t *testing.T) {
	t.Parallel()
	lim := DefaultLimits()
	for _, tc := range scanCases {
		got, ok := scanPing([]byte(tc.body), lim)
		if ok != tc.take {
			t.Errorf("%q: scanner took it = %v, want %v", tc.body, ok, tc.take)
			continue
		}
		want, err := walkPing([]byte(tc.body), lim)
		if ok && (err != nil || got != want) {
			t.Errorf("%q: scanner read %+v, walker %+v, %v", tc.body, got, want, err)
		}
	}
}

// TestScanLimits: the scanner leaves bodies at the edge of the limits to
// the walker, so that the limits are exactly the walker's.
func TestScanLimits(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxDepth: 3, MaxLeaves: 8} // head has 3 leaves
	for _, tc := range []struct {
		body string
		take bool
	}{
		{head + `,"a":{"b":[1]}}`, true},
		{head + `,"a":{"b":[[1]]}}`, false},
		{head + `,"a":[1,2,3,4,5]}`, true},
		{head + `,"a":[1,2,3,4,5,6]}`, false},
		{head + `,"a":{"b":{},"c":{},"d":"x"}}`, true},
	} {
		_, ok := scanPing([]byte(tc.body), lim)
		if ok != tc.take {
			t.Errorf("%q: scanner took it = %v, want %v", tc.body, ok, tc.take)
		}
		if _, err := walkPing([]byte(tc.body), lim); (err == nil) != tc.take {
			t.Errorf("%q: walker: %v", tc.body, err)
		}
	}
}

// FuzzScanAgrees: whatever the scanner takes, the walker accepts with the
// same fields, under any limits.
func FuzzScanAgrees(f *testing.F) {
	if b, err := os.ReadFile(docsExample); err == nil {
		f.Add(b, uint8(0), uint16(0))
	}
	for _, tc := range scanCases {
		f.Add([]byte(tc.body), uint8(4), uint16(12))
	}
	f.Fuzz(func(t *testing.T, data []byte, depth uint8, leaves uint16) {
		lim := Limits{MaxDepth: int(depth), MaxLeaves: int(leaves)}.withDefaults()
		got, ok := scanPing(data, lim)
		if !ok {
			return
		}
		want, err := walkPing(data, lim)
		if err != nil {
			t.Fatalf("the scanner took %q, the walker rejects it: %v", data, err)
		}
		if got != want {
			t.Fatalf("%q: scanner read %+v, walker %+v", data, got, want)
		}
	})
}

// TestPlainRun: eight bytes at a time, plainRun stops where the byte loop
// does, whatever surrounds the first special byte.
func TestPlainRun(t *testing.T) {
	t.Parallel()
	alphabet := []byte{'a', ' ', '~', '"', '\\', 0, 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x21, 0x5b, 0x5d}
	b := make([]byte, 24)
	for seed := range 200_000 {
		x := uint64(seed)*0x9e3779b97f4a7c15 + 1
		for i := range b {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			if x%4 == 0 {
				b[i] = alphabet[x/4%uint64(len(alphabet))]
			} else {
				b[i] = 'a' + byte(x%26)
			}
		}
		for from := range 3 {
			want := from
			for want < len(b) && plain[b[want]] {
				want++
			}
			if got := plainRun(b, from); got != want {
				t.Fatalf("plainRun(%q, %d) = %d, want %d", b, from, got, want)
			}
		}
	}
}

// BenchmarkPass compares the two passes over a full-size ping: the
// scanner DecodePing takes and the jsontext walker it falls back to.
func BenchmarkPass(b *testing.B) {
	gen, err := pinggen.New()
	if err != nil {
		b.Fatal(err)
	}
	body := gen.JSON(pinggen.Spec{Instance: 3})
	lim := DefaultLimits()
	for _, pass := range []struct {
		name string
		run  func() bool
	}{
		{"scanner", func() bool { _, ok := scanPing(body, lim); return ok }},
		{"walker", func() bool { _, err := walkPing(body, lim); return err == nil }},
	} {
		b.Run(pass.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if !pass.run() {
					b.Fatal("the ping was not taken")
				}
			}
		})
	}
}
