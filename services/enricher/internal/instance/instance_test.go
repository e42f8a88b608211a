package instance

import (
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"google.golang.org/protobuf/types/known/timestamppb"

	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

func TestExtractDocsExample(t *testing.T) {
	t.Parallel()
	payload, err := os.ReadFile("../../../../testdata/payloads/docs_example.json")
	if err != nil {
		t.Fatal(err)
	}
	in, lic, err := Extract(payload)
	if err != nil {
		t.Fatal(err)
	}
	wantIn := &servicepingv1.Instance{
		Uuid: "0000000-0000-0000-0000-000000000000", Hostname: "example.com", Version: "12.10.0-pre",
		Edition: "EEU", InstallationType: "omnibus-gitlab",
		RecordedAt:      timestamppb.New(time.Date(2020, 4, 17, 7, 43, 54, 162_000_000, time.UTC)),
		ActiveUserCount: 999, HasActiveUserCount: true,
	}
	wantLic := &servicepingv1.License{
		Md5: "00000000000000000000000000000000", Sha256: "0000000000000000000000000000000000000000000000000000000000000000",
		Plan: "ultimate", UserCount: 999, StartsAt: "2020-01-01", ExpiresAt: "2021-01-01",
	}
	if d := cmp.Diff(wantIn, in, protocmp.Transform()); d != "" {
		t.Errorf("instance (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantLic, lic, protocmp.Transform()); d != "" {
		t.Errorf("license (-want +got):\n%s", d)
	}
}

func TestExtractTolerantTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		check   func(*servicepingv1.Instance, *servicepingv1.License) bool
		wantErr bool
	}{
		{"numeric strings", `{"recorded_at":"2024-01-01 00:00:00 UTC","active_user_count":"12","license_id":4711,"license_user_count":"50","license_trial":"true"}`,
			func(i *servicepingv1.Instance, l *servicepingv1.License) bool {
				return i.ActiveUserCount == 12 && i.HasActiveUserCount && l.Id == "4711" && l.UserCount == 50 && l.Trial
			}, false},
		{"nulls", `{"recorded_at":"2024-01-01T00:00:00Z","active_user_count":null,"license_md5":null,"hostname":null}`,
			func(i *servicepingv1.Instance, l *servicepingv1.License) bool {
				return !i.HasActiveUserCount && l.Md5 == "" && i.Hostname == ""
			}, false},
		{"object where scalar expected", `{"recorded_at":"2024-01-01T00:00:00Z","hostname":{"a":1}}`,
			func(i *servicepingv1.Instance, _ *servicepingv1.License) bool { return i.Hostname == "" }, false},
		{"bad recorded_at", `{"recorded_at":"soon"}`, nil, true},
		{"missing recorded_at", `{"uuid":"x"}`, nil, true},
		{"not an object", `[1,2]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, lic, err := Extract([]byte(tt.payload))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !tt.check(in, lic) {
				t.Fatalf("unexpected result: %v %v", in, lic)
			}
		})
	}
}

func BenchmarkExtract(b *testing.B) {
	payload, err := os.ReadFile("../../../../testdata/payloads/docs_example.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, _, err := Extract(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExtractFullSize(b *testing.B) {
	g, err := pinggen.New()
	if err != nil {
		b.Fatal(err)
	}
	payload := g.JSON(pinggen.Spec{Instance: 1})
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, _, err := Extract(payload); err != nil {
			b.Fatal(err)
		}
	}
}
