package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/serviceping/serviceping/services/serviceping/internal/client"
)

func sendCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "send", "[flags] FILE...")
	gw := fs.String("gateway", e.envOr("GATEWAY_URL", "http://127.0.0.1:8080"), "gateway base URL (env GATEWAY_URL)")
	timeout := fs.Duration("timeout", 30*time.Second, "per-request timeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("send: at least one payload file is required")
	}
	s := client.Sender{HTTP: &http.Client{Timeout: *timeout}, GatewayURL: *gw}
	var failed int
	for _, path := range fs.Args() {
		resp, err := s.SendFile(ctx, path)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(e.stderr, "%s: %v\n", path, err)
		case resp.Status/100 != 2:
			failed++
			fmt.Fprintf(e.stderr, "%s: gateway answered %d: %s\n", path, resp.Status, resp.Body)
		default:
			fmt.Fprintf(e.stdout, "%s: accepted, usage_data_id %d\n", path, resp.UsageDataID)
		}
	}
	if failed > 0 {
		return fmt.Errorf("send: %d of %d payloads were not accepted", failed, fs.NArg())
	}
	return nil
}

func loadgenCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "loadgen", "[flags]")
	gw := fs.String("gateway", e.envOr("GATEWAY_URL", "http://127.0.0.1:8080"), "gateway base URL (env GATEWAY_URL)")
	o := client.LoadOptions{}
	fs.IntVar(&o.Pings, "pings", 2000, "pings to send (the run stops after this many)")
	fs.IntVar(&o.Instances, "instances", 500, "distinct simulated installations")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "requests in flight")
	fs.DurationVar(&o.Duration, "duration", time.Minute, "the run stops after this long")
	fs.BoolVar(&o.Gzip, "gzip", false, "send gzip-compressed bodies")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s := client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}, GatewayURL: *gw}
	res, err := s.Load(ctx, o)
	if err != nil {
		return err
	}
	res.Report(e.stdout)
	return nil
}
