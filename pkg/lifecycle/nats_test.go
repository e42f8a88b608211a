package lifecycle_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// startServer runs a NATS server with opts on a free loopback port until
// the test ends.
func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", server.RANDOM_PORT, true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

// roundTrip reports whether nc gets an answer from the server within
// timeout (Connect retries a failed first connection in the background, so
// a refused one shows here).
func roundTrip(nc *nats.Conn, timeout time.Duration) error { return nc.FlushTimeout(timeout) }

// Waits for an answer that must come, and for one that must not.
const (
	answered = 10 * time.Second
	refused  = time.Second
)

func connect(t *testing.T, url string, auth lifecycle.NATSAuth) *nats.Conn {
	t.Helper()
	nc, _, err := lifecycle.Connect(context.Background(), url, auth, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestConnectTLS: NATS_TLS_CA verifies the server and NATS_TLS_CERT/KEY
// authenticate the client to a server that requires client certificates;
// without the client certificate, or without the CA, no connection is made.
func TestConnectTLS(t *testing.T) {
	t.Parallel()
	srvCert := testinfra.SelfSignedCert(t, "127.0.0.1")
	client := testinfra.SelfSignedCert(t, "serviceping-client")
	pair, err := tls.LoadX509KeyPair(srvCert.CertFile, srvCert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, &server.Options{
		TLS:       true,
		TLSVerify: true,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs: client.Pool, MinVersion: tls.VersionTLS12,
		},
	})
	url := srv.ClientURL()

	good := lifecycle.NATSAuth{TLSCA: srvCert.CertFile, TLSCert: client.CertFile, TLSKey: client.KeyFile}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	nc := connect(t, url, good)
	if err := roundTrip(nc, answered); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	if !nc.TLSRequired() {
		t.Error("the connection is not TLS")
	}
	for name, auth := range map[string]lifecycle.NATSAuth{
		"no client certificate": {TLSCA: srvCert.CertFile},
		"no CA":                 {TLSCert: client.CertFile, TLSKey: client.KeyFile},
	} {
		if err := roundTrip(connect(t, url, auth), refused); err == nil {
			t.Errorf("%s: connected", name)
		}
	}
}

// TestConnectCreds: NATS_CREDS authenticates to a server in operator mode;
// without it the server refuses the connection.
func TestConnectCreds(t *testing.T) {
	t.Parallel()
	operator, _ := nkeys.CreateOperator()
	opPub, _ := operator.PublicKey()
	opClaims := jwt.NewOperatorClaims(opPub)
	if _, err := opClaims.Encode(operator); err != nil { // signs and fills the claims
		t.Fatal(err)
	}
	account, _ := nkeys.CreateAccount()
	accPub, _ := account.PublicKey()
	accJWT, err := jwt.NewAccountClaims(accPub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	user, _ := nkeys.CreateUser()
	userPub, _ := user.PublicKey()
	userJWT, err := jwt.NewUserClaims(userPub).Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		t.Fatal(err)
	}
	credsFile := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(credsFile, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(accPub, accJWT); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, &server.Options{TrustedOperators: []*jwt.OperatorClaims{opClaims}, AccountResolver: resolver})

	if err := roundTrip(connect(t, srv.ClientURL(), lifecycle.NATSAuth{Creds: credsFile}), answered); err != nil {
		t.Fatalf("with NATS_CREDS: %v", err)
	}
	if err := roundTrip(connect(t, srv.ClientURL(), lifecycle.NATSAuth{}), refused); err == nil {
		t.Error("connected to an operator-mode server without credentials")
	}
}

func TestNATSAuthValidate(t *testing.T) {
	t.Parallel()
	cert := testinfra.SelfSignedCert(t, "127.0.0.1")
	if err := (lifecycle.NATSAuth{}).Validate(); err != nil {
		t.Errorf("no credentials: %v", err)
	}
	err := lifecycle.NATSAuth{TLSCert: cert.CertFile, Creds: filepath.Join(t.TempDir(), "missing.creds")}.Validate()
	testinfra.ErrorSays(t, "Validate()", err, "NATS_TLS_CERT and NATS_TLS_KEY must be set together", "NATS_CREDS")
}

// TestEnsureStreamsFailsAtOnceWithoutACluster: STREAM_REPLICAS above 1
// against a single server is a configuration error, not a server to wait
// for.
func TestEnsureStreamsFailsAtOnceWithoutACluster(t *testing.T) {
	t.Parallel()
	_, url := testinfra.NATS(t)
	js := testinfra.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := lifecycle.EnsureStreams(ctx, js, streams.Options{Replicas: 3}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, streams.ErrNotClustered) || ctx.Err() != nil {
		t.Fatalf("EnsureStreams = %v (context: %v), want streams.ErrNotClustered at once", err, ctx.Err())
	}
}
