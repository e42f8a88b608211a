package flatten

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/services/loader/internal/jsonleaves"
)

var update = flag.Bool("update", false, "rewrite golden files")

func num(path string, v float64) Leaf {
	return Leaf{Path: path, Kind: Number, Value: v, Fallback: IsFallback(v)}
}

func TestFlatten(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []Leaf
	}{
		{"nested objects", `{"counts":{"issues":3,"boards":0},"usage_activity_by_stage_monthly":{"plan":{"issues":7}}}`,
			[]Leaf{num("counts.issues", 3), num("counts.boards", 0), num("usage_activity_by_stage_monthly.plan.issues", 7)}},
		{"array is one row, compacted", `{"gitaly":{"filesystems": [ "EXT_2_3_4" , "ZFS" ]},"t":{"nodes":[{"a": 1, "b":[1, 2]}]}}`,
			[]Leaf{{Path: "gitaly.filesystems", Kind: Array, Text: `["EXT_2_3_4","ZFS"]`}, {Path: "t.nodes", Kind: Array, Text: `[{"a":1,"b":[1,2]}]`}}},
		{"array strings kept as sent", `{"a":["x y", "q\"u\u00e9 \\ "]}`,
			[]Leaf{{Path: "a", Kind: Array, Text: `["x y","q\"u\u00e9 \\ "]`}}},
		{"empty array", `{"failures":[]}`, []Leaf{{Path: "failures", Kind: Array, Text: `[]`}}},
		{"booleans", `{"a":true,"b":false}`, []Leaf{{Path: "a", Kind: Boolean, Value: 1}, {Path: "b", Kind: Boolean, Value: 0}}},
		{"strings", `{"version":"18.0.1-ee","s":"tab\there \u00e9\ud83d\ude00 \/"}`,
			[]Leaf{{Path: "version", Kind: String, Text: "18.0.1-ee"}, {Path: "s", Kind: String, Text: "tab\there é😀 /"}}},
		{"empty string", `{"s":""}`, []Leaf{{Path: "s", Kind: String, Text: ""}}},
		{"null", `{"license_id":null}`, []Leaf{{Path: "license_id", Kind: Null}}},
		{"empty object is one row", `{"license_add_ons":{ },"x":{"y":{}}}`,
			[]Leaf{{Path: "license_add_ons", Kind: Object, Text: "{}"}, {Path: "x.y", Kind: Object, Text: "{}"}}},
		{"empty root yields nothing", ` { } `, nil},
		{"fallbacks flagged", `{"a":-1,"b":-2,"c":-1000,"d":-1.0,"e":-1e3}`,
			[]Leaf{num("a", -1), num("b", -2), num("c", -1000), num("d", -1), num("e", -1000)}},
		{"not fallbacks", `{"a":-1.5,"b":"-1","c":-3,"d":1,"e":-10000,"f":-0}`,
			[]Leaf{num("a", -1.5), {Path: "b", Kind: String, Text: "-1"}, num("c", -3), num("d", 1), num("e", -10000), num("f", 0)}},
		{"histogram fallback", `{"h":{"-1":-1}}`, []Leaf{num("h.-1", -1)}},
		{"integers up to 2^53 exact", `{"a":9007199254740992,"b":-9007199254740991,"c":123456789012345}`,
			[]Leaf{num("a", 9007199254740992), num("b", -9007199254740991), num("c", 123456789012345)}},
		{"big integers keep their text", `{"pg_system_id":6842684531675334351,"b":9007199254740993,"c":123456789012345678901234567890}`,
			[]Leaf{
				{Path: "pg_system_id", Kind: Number, Value: 6842684531675334351, Text: "6842684531675334351"},
				{Path: "b", Kind: Number, Value: 9007199254740992, Text: "9007199254740993"},
				{Path: "c", Kind: Number, Value: 123456789012345678901234567890, Text: "123456789012345678901234567890"},
			}},
		{"floats that round-trip have no text", `{"a":0.1,"b":1.5e3,"c":2.5E-3,"d":0.30000000000000004,"e":1e21,"f":1.000}`,
			[]Leaf{num("a", 0.1), num("b", 1500), num("c", 0.0025), num("d", 0.30000000000000004), num("e", 1e21), num("f", 1)}},
		{"floats beyond precision keep their text", `{"a":1.00000000000000000001,"b":1e400,"c":0.1000000000000000000001}`,
			[]Leaf{
				{Path: "a", Kind: Number, Value: 1, Text: "1.00000000000000000001"},
				{Path: "b", Kind: Number, Value: math.Inf(1), Text: "1e400"},
				{Path: "c", Kind: Number, Value: 0.1, Text: "0.1000000000000000000001"},
			}},
		{"unicode keys", `{"zählung":{"日本":1,"\u00e9t\u00e9":2}}`, []Leaf{num("zählung.日本", 1), num("zählung.été", 2)}},
		{"dotted keys kept as-is", `{"a.b":1,"a":{"b":2}}`, []Leaf{num("a.b", 1), num("a.b", 2)}},
		{"escaped keys", `{"a\"b":{"c\\d":1}}`, []Leaf{num(`a"b.c\d`, 1)}},
		{"payload order, not sorted", `{"z":1,"a":2,"m":{"y":3,"b":4}}`, []Leaf{num("z", 1), num("a", 2), num("m.y", 3), num("m.b", 4)}},
		{"duplicate names each a row", `{"a":1,"a":2}`, []Leaf{num("a", 1), num("a", 2)}},
		{"invalid utf-8 replaced", "{\"s\":\"a\xffb\",\"k\xfe\":1}", []Leaf{{Path: "s", Kind: String, Text: "a\uFFFDb"}, num("k\uFFFD", 1)}},
		{"lone surrogate replaced", `{"s":"\ud800x\udc00"}`, []Leaf{{Path: "s", Kind: String, Text: "\uFFFDx\uFFFD"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Flatten([]byte(tt.in))
			if err != nil {
				t.Fatalf("Flatten: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Flatten(%s)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFlattenRejectsMalformed(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	for _, in := range []string{
		``, `[]`, `"x"`, `1`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1}x`, `{"a":01}`, `{"a":1.}`, `{"a":1e}`,
		`{"a":-}`, `{"a":tru}`, `{"a":"x}`, "{\"a\":\"\x01\"}", `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":[1,]}`,
		`{"a":[1 2]}`, `{"a":[{"b" 1}]}`, `{"a":NaN}`, `{"a":Infinity}`, `{a:1}`, `{"a":1}{"b":2}`, deep,
	} {
		if _, err := Flatten([]byte(in)); !errors.Is(err, ErrSyntax) {
			t.Errorf("Flatten(%.40q) = %v, want ErrSyntax", in, err)
		}
	}
}

// goldenLeaf is the readable form of a leaf in golden files.
type goldenLeaf struct {
	Path     string   `json:"key_path"`
	Kind     string   `json:"value_kind"`
	Value    *float64 `json:"value,omitempty"`
	Text     string   `json:"value_string,omitempty"`
	Fallback bool     `json:"is_fallback,omitempty"`
}

func TestDocsExampleGolden(t *testing.T) {
	t.Parallel()
	payload, err := os.ReadFile("../../../../testdata/payloads/docs_example.json")
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := Flatten(payload)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, l := range leaves {
		g := goldenLeaf{Path: l.Path, Kind: l.Kind.String(), Text: l.Text, Fallback: l.Fallback}
		if l.HasValue() {
			g.Value = &l.Value
		}
		if err := enc.Encode(g); err != nil {
			t.Fatal(err)
		}
	}
	checkGolden(t, filepath.Join("testdata", "docs_example.leaves.golden"), buf.Bytes())
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update after checking):\n%s", path, got)
	}
}

// reference flattens with encoding/json: the oracle for generated pings.
func reference(t *testing.T, payload []byte) map[string]Leaf {
	t.Helper()
	out := map[string]Leaf{}
	err := jsonleaves.Walk(payload, func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if path != "" {
				out[path] = Leaf{Path: path, Kind: Object, Text: "{}"}
			}
		case []any:
			b, err := json.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			out[path] = Leaf{Path: path, Kind: Array, Text: string(b)}
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				t.Fatal(err)
			}
			l := num(path, f)
			if strconv.FormatFloat(f, 'f', -1, 64) != string(x) && !strings.ContainsAny(string(x), ".eE") {
				l.Text = string(x)
			}
			out[path] = l
		case string:
			out[path] = Leaf{Path: path, Kind: String, Text: x}
		case bool:
			l := Leaf{Path: path, Kind: Boolean}
			if x {
				l.Value = 1
			}
			out[path] = l
		case nil:
			out[path] = Leaf{Path: path, Kind: Null}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFlattenMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	var f Flattener
	for i := range 20 {
		payload := g.JSON(pinggen.Spec{Instance: i, Week: i % 3})
		leaves, err := f.Append(nil, payload)
		if err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
		if len(leaves) < 2000 || len(leaves) > 3200 {
			t.Errorf("ping %d: %d leaves, want a full-size ping", i, len(leaves))
		}
		want := reference(t, payload)
		if len(leaves) != len(want) {
			t.Fatalf("ping %d: %d leaves, reference has %d", i, len(leaves), len(want))
		}
		for _, l := range leaves {
			if w := want[l.Path]; w != l {
				t.Fatalf("ping %d: leaf %s = %+v, reference %+v", i, l.Path, l, w)
			}
		}
	}
}

func TestPathsInterned(t *testing.T) {
	var f Flattener
	a, _ := f.Append(nil, []byte(`{"counts":{"issues":1}}`))
	b, _ := f.Append(nil, []byte(`{"counts":{"issues":2}}`))
	if len(a) != 1 || len(b) != 1 || a[0].Path != b[0].Path || strings.Clone(a[0].Path) != "counts.issues" {
		t.Fatalf("got %v %v", a, b)
	}
	if testing.AllocsPerRun(10, func() { _, _ = f.Append(a[:0], []byte(`{"counts":{"issues":1}}`)) }) != 0 {
		t.Error("flattening known paths into a reused slice allocates")
	}
}

func BenchmarkFlatten(b *testing.B) {
	g, err := pinggen.New()
	if err != nil {
		b.Fatal(err)
	}
	var payloads [][]byte
	var size, rows int
	var f Flattener
	for i := range 16 {
		p := g.JSON(pinggen.Spec{Instance: i, Week: 1})
		payloads = append(payloads, p)
		size += len(p)
		l, _ := f.Append(nil, p)
		rows += len(l)
	}
	b.SetBytes(int64(size / len(payloads)))
	b.ReportAllocs()
	var dst []Leaf
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		dst, err = f.Append(dst[:0], payloads[i%len(payloads)])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows/len(payloads))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows/len(payloads)), "rows/ping")
}
