package validate_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/services/gateway/internal/validate"
)

const docsExamplePath = "../../../../testdata/payloads/docs_example.json"

func TestDecodePingLimits(t *testing.T) {
	t.Parallel()
	base := `"uuid":"u-1","recorded_at":"2026-01-05 10:00:00 UTC","version":"18.0.0"`
	lim := validate.Limits{MaxDepth: 3, MaxLeaves: 50}
	cases := []struct {
		name, body, code string
	}{
		{"at the depth limit", `{` + base + `,"a":{"b":[1]}}`, ""},
		{"over the depth limit", `{` + base + `,"a":{"b":[[1]]}}`, validate.CodeTooDeep},
		{"at the leaf limit", `{` + base + `,"a":{"b":[1,null` + strings.Repeat(",0", 45) + `]}}`, ""},
		{"over the leaf limit", `{` + base + `,"a":{"b":[1,null,true` + strings.Repeat(",0", 45) + `]}}`, validate.CodeTooManyLeaves},
		{"names are not leaves", `{` + base + `,"a":{"b":{},"c":{},"d":"x"}}`, ""},
		{"null section", `{` + base + `,"counts":null}`, ""},
		{"section of wrong type", `{` + base + `,"license":"x"}`, validate.CodeInvalidSection},
		{"escaped duplicate", `{` + base + `,"a":{"b":1,"\u0062":2}}`, validate.CodeInvalidJSON},
		{"duplicate in a big object", `{` + base + `,"a":{` + validate.ManyNames(40) + `,"n7":0}}`, validate.CodeInvalidJSON},
		{"big object without duplicates", `{` + base + `,"a":{` + validate.ManyNames(40) + `}}`, ""},
		{"duplicate in a nested object", `{` + base + `,"a":{"b":{"c":1,"c":2}}}`, validate.CodeInvalidJSON},
		{"same name in sibling objects", `{` + base + `,"a":{"c":1},"b":{"c":2}}`, ""},
		{"non-section of any type", `{` + base + `,"licensee":"x"}`, ""},
	}
	for _, tc := range cases {
		_, err := validate.DecodePing([]byte(tc.body), lim)
		var perr *validate.Error
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.code != "" && (!errors.As(err, &perr) || perr.Code != tc.code):
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
		}
	}
}

func TestDecodeDocsExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(docsExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := validate.DecodePing(b, validate.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if p.UUID != "0000000-0000-0000-0000-000000000000" || p.RecordedAt != "2020-04-17T07:43:54.162+00:00" || p.Version != "12.10.0-pre" {
		t.Fatalf("%+v", p)
	}
}

func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile(docsExamplePath); err == nil {
		f.Add(b)
	}
	base := `"uuid":"u-1","recorded_at":"2026-01-05 10:00:00 UTC","version":"18.0.0"`
	for _, s := range []string{
		`{` + base + `}`,
		`{` + base + `,"counts":{"a":1,"b":[1.5,-2e10,true,null,"x"]},"settings":null}`,
		`{` + base + `,"s":"\ud83d\ude00\u00e9\n"}`,
		`{` + base + `,"s":"\ud800"}`,
		`{` + base + `,"a":1,"a":2}`,
		`{` + base + `,"n":1e400}`,
		`{` + base + `} {}`,
		`{"uuid":"a b","recorded_at":"x","version":""}`,
		`[]`, `null`, `"x"`, `{`, `{"a":`, ``, "{\"uuid\":\"\xff\"}",
		`{` + base + `,"d":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	} {
		f.Add([]byte(s))
	}
	lim := validate.Limits{MaxDepth: 8, MaxLeaves: 200}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := validate.DecodePing(data, lim)
		if err != nil {
			var perr *validate.Error
			if !errors.As(err, &perr) || perr.Code == "" || perr.Message == "" {
				t.Fatalf("error is not a client error: %#v", err)
			}
			return
		}
		// Accepted: one valid JSON object, valid UTF-8, with the required fields as returned.
		if !json.Valid(data) || !utf8.Valid(data) || !jsontext.Value(data).IsValid() {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("accepted a non-object %q: %v", data, err)
		}
		if m["uuid"] != p.UUID || m["recorded_at"] != p.RecordedAt || m["version"] != p.Version {
			t.Fatalf("fields %+v differ from %v", p, m)
		}
		if validate.CheckUUID(p.UUID) != nil || p.Version == "" || len(p.Version) > validate.MaxVersionLen {
			t.Fatalf("accepted invalid fields %+v", p)
		}
		// The report decoders must not panic either.
		_, _ = validate.DecodeErrorReport(data, lim)
		_, _ = validate.DecodeMetadata(data, lim)
	})
}

func BenchmarkDecodePing(b *testing.B) {
	gen, err := pinggen.New()
	if err != nil {
		b.Fatal(err)
	}
	body := gen.JSON(pinggen.Spec{Instance: 3})
	lim := validate.DefaultLimits()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := validate.DecodePing(body, lim); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pings/s")
	b.ReportMetric(float64(len(body)), "body_bytes")
}
