package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/serviceping/serviceping/services/serviceping/internal/client"
)

type sendCmd struct {
	Files []string `arg:"" name:"file" help:"Payload files, JSON or gzip-compressed JSON."`
	gatewayURL
	Timeout time.Duration `default:"30s" help:"Per-request timeout."`
}

func (c *sendCmd) Run(ctx context.Context, e *env) error {
	s := client.Sender{HTTP: &http.Client{Timeout: c.Timeout}, GatewayURL: c.Gateway}
	var failed int
	for _, path := range c.Files {
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
		return fmt.Errorf("send: %d of %d payloads were not accepted", failed, len(c.Files))
	}
	return nil
}

type loadgenCmd struct {
	gatewayURL
	Pings       int           `default:"2000" help:"Pings to send (the run stops after this many)."`
	Instances   int           `default:"500" help:"Distinct simulated installations."`
	Concurrency int           `default:"8" help:"Requests in flight."`
	Duration    time.Duration `default:"1m" help:"The run stops after this long (requests it cuts off count as not accepted)."`
	Gzip        bool          `help:"Send gzip-compressed bodies."`
	Rate        float64       `help:"Pace the run at this many pings a second, generating each as it is sent (a soak); 0: as fast as the gateway answers."`
}

// Run prints the summary and fails when any ping was not accepted.
func (c *loadgenCmd) Run(ctx context.Context, e *env) error {
	o := client.LoadOptions{Pings: c.Pings, Instances: c.Instances, Concurrency: c.Concurrency, Duration: c.Duration, Gzip: c.Gzip, Rate: c.Rate}
	s := client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}, GatewayURL: c.Gateway}
	res, err := s.Load(ctx, o)
	if err != nil {
		return err
	}
	res.Report(e.stdout)
	if failed := res.Sent - res.Accepted; failed > 0 {
		return fmt.Errorf("loadgen: %d of %d pings were not accepted", failed, res.Sent)
	}
	return nil
}
