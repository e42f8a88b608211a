package gateway_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/serviceping/serviceping/pkg/natsembed"
)

func startNATS(t *testing.T, addr, dir string) *server.Server {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{Listen: addr, StoreDir: dir})
	if err != nil {
		t.Fatalf("start nats on %s: %v", addr, err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}
