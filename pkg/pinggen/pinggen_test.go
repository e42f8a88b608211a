package pinggen

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestPingIsRealistic(t *testing.T) {
	t.Parallel()
	g, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []Spec{{Instance: 0}, {Instance: 7, Week: 3}, {Instance: 123, Week: 52}} {
		b := g.JSON(spec)
		if n := len(b); n < 100_000 || n > 200_000 {
			t.Errorf("%+v: size %d bytes, want 100–200 KB", spec, n)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%+v: generated JSON does not parse: %v", spec, err)
		}
		if n := countLeaves(m); n < 2000 || n > 3000 {
			t.Errorf("%+v: %d leaves, want 2,000–3,000", spec, n)
		}
		for _, k := range []string{"uuid", "hostname", "version", "recorded_at", "edition", "installation_type"} {
			if s, ok := m[k].(string); !ok || s == "" {
				t.Errorf("%+v: %s = %v, want a non-empty string", spec, k, m[k])
			}
		}
		if !bytes.Equal(b, g.JSON(spec)) {
			t.Errorf("%+v: generation is not deterministic", spec)
		}
	}
	if bytes.Equal(g.JSON(Spec{Instance: 1}), g.JSON(Spec{Instance: 1, Week: 1})) {
		t.Error("two weeks of one instance produced the same ping")
	}
}

func BenchmarkJSON(b *testing.B) {
	g, err := New()
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		b.SetBytes(int64(len(g.JSON(Spec{Instance: i % 100}))))
	}
}
