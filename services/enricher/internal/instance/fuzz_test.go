package instance

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds the enricher's field extraction — the first thing it
// does with a ping from the bus — arbitrary bytes.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../../../testdata/payloads/docs_example.json"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		`{"uuid":"u","recorded_at":"2026-01-05 10:00:00 UTC","version":"18.0.0","active_user_count":"12","license_trial":"true","counts":{"projects":3,"issues":-1,"groups":1.5}}`,
		`{"uuid":1,"recorded_at":"2020-04-17T07:43:54.162+00:00","license_user_count":1e30,"counts":[]}`,
		`{"recorded_at":"not a time"}`, `{"recorded_at":null}`, `[]`, `{`, ``, `{"counts":{"projects":9223372036854775808}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fields, err := Parse(data)
		if err != nil {
			return
		}
		if fields.Instance == nil || fields.License == nil || fields.Instance.RecordedAt == nil {
			t.Fatalf("parsed without instance, license or time: %+v", fields)
		}
		if !fields.Instance.HasActiveUserCount && fields.Instance.ActiveUserCount != 0 {
			t.Fatalf("active user count %+v", fields.Instance)
		}
		for k, v := range Headline(fields.Counts) {
			if !strings.HasPrefix(k, "counts.") || v < 0 {
				t.Fatalf("headline count %s = %d", k, v)
			}
		}
		in, lic, err := Extract(data)
		if err != nil || in.GetUuid() != fields.Instance.GetUuid() || lic.GetPlan() != fields.License.GetPlan() {
			t.Fatalf("Extract disagrees with Parse: %v", err)
		}
	})
}
