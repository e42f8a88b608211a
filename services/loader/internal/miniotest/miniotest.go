// Package miniotest runs a real MinIO server (the binary test-env.sh builds,
// SERVICEPING_TEST_MINIO) on a free loopback port for the loader's tests.
package miniotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serviceping/serviceping/pkg/testinfra"
)

// Credentials of the test server.
const (
	User     = "serviceping"
	Password = "serviceping-secret"
	Region   = "us-east-1"
)

// Server is a running MinIO.
type Server struct {
	// Endpoint is the S3 endpoint URL (http://127.0.0.1:port).
	Endpoint string
	bin      string
	addr     string
	dir      string
	logPath  string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts MinIO with a temporary data directory, stopped when the
// test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{bin: testinfra.Env(tb, "SERVICEPING_TEST_MINIO"), dir: tb.TempDir()}
	s.logPath = filepath.Join(s.dir, "minio.log")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = ln.Addr().String()
	_ = ln.Close()
	s.Endpoint = "http://" + s.addr
	if err := s.start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Stop() })
	return s
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.addr, "--console-address", "127.0.0.1:0", filepath.Join(s.dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+User, "MINIO_ROOT_PASSWORD="+Password,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "CI=true")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start minio: %w", err)
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(s.logPath)
			return fmt.Errorf("minio exited: %v\n%s", err, out)
		default:
		}
		resp, err := http.Get(s.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				go func() { <-exited }()
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return errors.New("minio did not become live within 60s")
}

// Stop kills the server (as a crash would).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		s.cmd = nil
	}
}

// Restart starts it again on the same port and data directory.
func (s *Server) Restart() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.start()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond) // the port may linger for a moment
	}
}

// SetCredentials sets the AWS credentials and region of this server in
// the test's environment (tb.Setenv: the test cannot be parallel), where
// the lake client reads them; the endpoint is passed in S3Options.
func (s *Server) SetCredentials(tb testing.TB) {
	tb.Setenv("AWS_ACCESS_KEY_ID", User)
	tb.Setenv("AWS_SECRET_ACCESS_KEY", Password)
	tb.Setenv("AWS_REGION", Region)
}

// Client is an S3 client for the server.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(User, Password, ""),
		UsePathStyle: true,
	})
}

// Bucket creates a bucket.
func (s *Server) Bucket(tb testing.TB, name string) {
	tb.Helper()
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
}
