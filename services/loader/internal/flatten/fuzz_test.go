package flatten

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzFlatten feeds the loader's flattener — which reads every payload the
// gateway accepted — arbitrary bytes: it must not panic, accept only JSON
// objects, and keep its leaves consistent.
func FuzzFlatten(f *testing.F) {
	if b, err := os.ReadFile("../../../../testdata/payloads/docs_example.json"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		`{"counts":{"issues":3,"boards":-1},"t":{"nodes":[{"a":1,"b":[1,2]}]},"e":{}}`,
		`{"n":1e400,"m":-0,"k":123456789012345678901234567890,"f":-1000,"g":-2}`,
		`{"s":"tab\there \u00e9\ud83d\ude00 \/ \ud800","b":true,"z":null}`,
		`{"a":1,"a":2}`, `{"a.b":1,"a":{"b":2}}`, `{}`, `[]`, `{`, `{"a":}`, `{"a":1} x`, "{\"\xff\":1}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fl Flattener
		prior := []Leaf{{Path: "prior", Kind: Null}}
		leaves, err := fl.Append(prior[:1:1], data)
		if err != nil {
			if len(leaves) != 1 || leaves[0].Path != "prior" {
				t.Fatalf("failed Append changed dst: %v", leaves)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("flattened invalid JSON %q", data)
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			t.Fatalf("flattened a non-object %q", data)
		}
		for _, l := range leaves[1:] {
			if l.Kind > Null || l.Kind.String() == "" {
				t.Fatalf("leaf %+v: kind", l)
			}
			if l.Kind == Number && l.Fallback != IsFallback(l.Value) {
				t.Fatalf("leaf %+v: fallback", l)
			}
			if l.Kind == Array && !json.Valid([]byte(l.Text)) {
				t.Fatalf("leaf %+v: array text is not JSON", l)
			}
		}
	})
}
