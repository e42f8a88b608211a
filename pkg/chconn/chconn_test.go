package chconn

import (
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func TestOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url      string
		protocol clickhouse.Protocol
		addr, db string
		wantErr  bool
	}{
		{"clickhouse://ch.internal:9000/analytics", clickhouse.Native, "ch.internal:9000", "analytics", false},
		{"http://127.0.0.1:8123/serviceping", clickhouse.HTTP, "127.0.0.1:8123", "serviceping", false},
		{"http://127.0.0.1:8123", clickhouse.HTTP, "127.0.0.1:8123", "serviceping", false},
		{"clickhouse://user:secret@ch:9000/db", clickhouse.Native, "ch:9000", "db", false},
		{"postgres://x/y", 0, "", "", true},
		{"http:///nohost", 0, "", "", true},
		{"::not a url", 0, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			o, err := Options(tt.url)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if o.Protocol != tt.protocol || o.Addr[0] != tt.addr || o.Auth.Database != tt.db {
				t.Fatalf("got protocol %v addr %v db %q", o.Protocol, o.Addr, o.Auth.Database)
			}
		})
	}
}

// TestCredentials: user:password@ reaches clickhouse-go, percent-decoded,
// and no error shows the password.
func TestCredentials(t *testing.T) {
	t.Parallel()
	o, err := Options("http://loader:p%40ss%3Aw0rd@127.0.0.1:8123/serviceping")
	if err != nil {
		t.Fatal(err)
	}
	if o.Auth.Username != "loader" || o.Auth.Password != "p@ss:w0rd" || o.Auth.Database != "serviceping" {
		t.Fatalf("auth %+v", o.Auth)
	}
	for _, raw := range []string{"http://loader:s3cr3t-pw@127.0.0.1:bad/db", "http://loader:s3cr3t-pw@[::1/db", "ftp://loader:s3cr3t-pw@host/db",
		"http://loader:s3cr3t-pw@127.0.0.1:8123/db?dial_timeout=notaduration"} {
		_, err := Options(raw)
		if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("%s: error %v (want one without the password)", raw, err)
		}
	}
}
