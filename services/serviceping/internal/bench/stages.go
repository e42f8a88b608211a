package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/streams"
)

// generate makes the bodies the load generator posts (client.Sender.Load
// generates the same: instance i mod instances, week i div instances).
func generate(pings, instances int) ([][]byte, error) {
	g, err := pinggen.New()
	if err != nil {
		return nil, err
	}
	bodies := make([][]byte, pings)
	for i := range bodies {
		bodies[i] = g.JSON(pinggen.Spec{Instance: i % instances, Week: i / instances})
	}
	return bodies, nil
}

// trivialHTTP posts the pings to a Go HTTP server in this process that
// reads each body and answers 201 with a usage_data_id, as a gateway does
// without doing anything else: the ceiling of HTTP on this machine.
func trivialHTTP(ctx context.Context, cfg Config) (Load, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Load{}, fmt.Errorf("listen: %w", err)
	}
	var ids atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"conv_index":{"usage_data_id":%d}}`, ids.Add(1))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	return post(ctx, cfg, "http://"+ln.Addr().String(), nil)
}

// onNATS runs measure against a fresh nats-server (JetStream on file
// storage) in a fresh directory, and stops and removes both afterwards.
func onNATS(ctx context.Context, cfg Config, name string, measure func(dir, url string, ns *proc) error) (err error) {
	dir, remove, err := tempDir(cfg, name)
	if err != nil {
		return err
	}
	defer remove()
	ns, url, err := natsServer(ctx, cfg, dir, "nats-server")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ns.stop(stopGrace)) }()
	if err := measure(dir, url, ns); err != nil {
		return err
	}
	return ns.exited()
}

// rawJetStream publishes the bodies to the PINGS stream (the pipeline's
// own configuration: file storage) of a fresh nats-server on the raw
// pings' subject, each with a message id as the gateway sends, from
// cfg.Concurrency publishers each waiting for its ack: the ceiling of
// JetStream for these bodies at this concurrency.
func rawJetStream(ctx context.Context, cfg Config, bodies [][]byte, r *Round) error {
	return onNATS(ctx, cfg, "raw", func(_, url string, ns *proc) error {
		nc, err := nats.Connect(url, nats.Name("serviceping-bench"))
		if err != nil {
			return fmt.Errorf("connect to %s: %w", url, err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("open JetStream: %w", err)
		}
		all := streams.Configs(streams.Defaults())
		i := slices.IndexFunc(all, func(c jetstream.StreamConfig) bool { return c.Name == streams.Pings })
		if _, err := js.CreateStream(ctx, all[i]); err != nil {
			return fmt.Errorf("create the %s stream: %w", streams.Pings, err)
		}
		rss := sampleRSS(map[string]int{"nats": ns.pid()}, cfg.RSSInterval)
		r.Raw, err = publish(ctx, js, bodies, cfg.Concurrency, cfg.Timeout)
		rss.stop()
		r.RawNATSRSS = rss.Peak("nats")
		return err
	})
}

// publish publishes bodies from concurrency publishers, each waiting for
// the ack of its message before the next, within timeout.
func publish(ctx context.Context, js jetstream.JetStream, bodies [][]byte, concurrency int, timeout time.Duration) (Load, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	work := make(chan int, len(bodies)) // the bodies' indexes, in order
	for i := range bodies {
		work <- i
	}
	close(work)
	var (
		mu        sync.Mutex
		l         Load
		latencies []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for i := range work {
				if ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				_, err := js.Publish(ctx, streams.SubjectRaw, bodies[i], jetstream.WithMsgID("bench-"+strconv.Itoa(i)), jetstream.WithExpectStream(streams.Pings))
				d := time.Since(t0)
				mu.Lock()
				l.Sent++
				l.Bytes += int64(len(bodies[i]))
				if err == nil {
					l.Accepted++
					latencies = append(latencies, d)
				} else if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	l.Elapsed = time.Since(start)
	l.P50, l.P99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
	if l.Accepted != int64(len(bodies)) {
		return l, fmt.Errorf("%d of %d bodies published within %s (first error: %v)", l.Accepted, len(bodies), timeout, firstErr)
	}
	return l, nil
}

// standaloneGateway posts the pings to bin/gateway on a fresh nats-server,
// rate limits off.
func standaloneGateway(ctx context.Context, cfg Config, r *Round) error {
	return onNATS(ctx, cfg, "gateway", func(dir, url string, ns *proc) (err error) {
		addrs, err := lifecycle.FreeLoopbackAddrs(1)
		if err != nil {
			return err
		}
		gw, err := startProc(dir, "gateway", filepath.Join(cfg.bin, "gateway"), nil, []string{
			"NATS_URL=" + url, "GATEWAY_LISTEN=" + addrs[0],
			// Every ping comes from 127.0.0.1, hundreds from each instance.
			"GATEWAY_RATE_PER_IP=0", "GATEWAY_RATE_PER_UUID=0",
		})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, gw.stop(stopGrace)) }()
		base := "http://" + addrs[0]
		if err := gw.waitHTTP(ctx, base+"/readyz", cfg.StartTimeout); err != nil {
			return err
		}
		rss := sampleRSS(map[string]int{"gateway": gw.pid(), "nats": ns.pid()}, cfg.RSSInterval)
		r.Gateway, err = post(ctx, cfg, base, nil)
		rss.stop()
		r.GatewayRSS, r.GatewayNATSRSS = rss.Peak("gateway"), rss.Peak("nats")
		if err != nil {
			return gw.failed(err)
		}
		return gw.exited()
	})
}

// execOutput runs bin with args and returns its trimmed output.
func execOutput(ctx context.Context, bin string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}
