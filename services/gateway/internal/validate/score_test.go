package validate_test

import (
	"errors"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/services/gateway/internal/validate"
)

// TestDecodePingScoreFields: DecodePing picks what the DevOps Score reads
// — active_user_count and the root counts' feature counters — and nothing
// else; a bad number there is rejected like anywhere.
func TestDecodePingScoreFields(t *testing.T) {
	head := `{"uuid":"u-1","recorded_at":"2026-11-02 12:00:00 UTC","version":"17.5.0",`
	for _, tc := range []struct {
		name       string
		body       string
		users      float64
		hasUsers   bool
		issues     float64
		hasIssues  bool
		hasProject bool
		code       string
	}{
		{name: "both", body: `"active_user_count":12,"counts":{"issues":5,"projects":3,"x":{"issues":9}}}`, users: 12, hasUsers: true, issues: 5, hasIssues: true, hasProject: true},
		{name: "strings are not numbers", body: `"active_user_count":"12","counts":{"issues":"5"}}`},
		{name: "fallback is absent", body: `"active_user_count":-1,"counts":{"issues":-1}}`},
		{name: "nested counts ignored", body: `"usage_activity_by_stage":{"counts":{"issues":7}},"counts":{}}`},
		{name: "counts null", body: `"counts":null}`},
		{name: "out of range", body: `"counts":{"issues":1e999}}`, code: validate.CodeNumberOutOfRange},
		{name: "duplicate counter", body: `"counts":{"issues":1,"issues":2}}`, code: validate.CodeInvalidJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := validate.DecodePing([]byte(head+tc.body), validate.DefaultLimits())
			if tc.code != "" {
				var perr *validate.Error
				if !errors.As(err, &perr) || perr.Code != tc.code {
					t.Fatalf("err = %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := p.Score
			if s.HasActiveUsers != tc.hasUsers || s.ActiveUsers != tc.users || s.HasCounter[devopsscore.Issues] != tc.hasIssues ||
				s.Counters[devopsscore.Issues] != tc.issues || s.HasCounter[devopsscore.Projects] != tc.hasProject {
				t.Errorf("score fields = %+v", s)
			}
			if !s.RecordedAt.Equal(time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)) {
				t.Errorf("recorded_at = %v", s.RecordedAt)
			}
		})
	}
}
