// Package submit sends a payload the way GitLab's ServicePing::SubmitService
// does (docs/gitlab-reference.md, "The Versions application contract"):
//
//  1. POST /usage_data with the payload JSON; any 2xx whose body carries a
//     positive integer conv_index.usage_data_id (or the legacy
//     dev_ops_score.usage_data_id) succeeds;
//  2. only then POST /usage_ping_metadata {"metadata": {"uuid", "metrics"}}
//     (its answer is ignored);
//  3. when step 1 finally fails, POST /usage_ping_errors
//     {"error": {"time", "uuid", "hostname", "version", "message", "elapsed"}}
//     and return the error.
//
// Step 1 is retried with exponential backoff on network errors, 5xx and 429
// (honouring Retry-After); other 4xx and a bad usage_data_id are not retried.
// All requests carry Content-Type and Accept application/json.
package submit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/serviceping/serviceping/pkg/ping"
)

// Config of a Submitter.
type Config struct {
	BaseURL    string        // the gateway / Versions app, e.g. https://version.gitlab.com
	HTTP       *http.Client  // default: 30 s timeout
	Attempts   int           // tries of POST /usage_data; default 4
	Backoff    time.Duration // first retry delay, doubled each time; default 1 s
	MaxBackoff time.Duration // default 1 min
	Log        *slog.Logger
	Now        func() time.Time
}

// Submitter submits payloads.
type Submitter struct {
	cfg Config
}

// New validates cfg and returns a Submitter.
func New(cfg Config) (*Submitter, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("submit: base URL is required")
	}
	if !strings.HasPrefix(cfg.BaseURL, "http://") && !strings.HasPrefix(cfg.BaseURL, "https://") {
		return nil, fmt.Errorf("submit: base URL %q is not http(s)", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Submitter{cfg: cfg}, nil
}

// Timing is one metadata entry.
type Timing struct {
	Name        string  `json:"name"`
	TimeElapsed float64 `json:"time_elapsed"`
	Error       string  `json:"error,omitempty"`
}

// Ping is what gets submitted.
type Ping struct {
	Payload  json.RawMessage // the payload JSON object
	UUID     string
	Hostname string // as it may leave the instance (after privacy rules)
	Version  string
	Metrics  []Timing
	Started  time.Time // when collection started, for the error report's elapsed
}

// Result of a successful submission.
type Result struct {
	UsageDataID int64
	ConvIndex   map[string]any // the whole conv_index object
	Attempts    int
}

// SubmissionError is a failed step 1.
type SubmissionError struct {
	Status int // 0 for network errors
	Msg    string
}

func (e *SubmissionError) Error() string { return e.Msg }

type retryable struct {
	err   error
	after time.Duration
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// Submit runs the three-step protocol.
func (s *Submitter) Submit(ctx context.Context, p Ping) (Result, error) {
	started := p.Started
	if started.IsZero() {
		started = s.cfg.Now()
	}
	var res Result
	var err error
	delay := s.cfg.Backoff
	for attempt := 1; attempt <= s.cfg.Attempts; attempt++ {
		res, err = s.postUsageData(ctx, p.Payload)
		res.Attempts = attempt
		var rt *retryable
		if err == nil || !errors.As(err, &rt) || attempt == s.cfg.Attempts {
			break
		}
		wait := delay
		if rt.after > wait {
			wait = min(rt.after, s.cfg.MaxBackoff)
		}
		s.cfg.Log.Warn("usage data submission failed, retrying", "attempt", attempt, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			err = fmt.Errorf("%w (retry interrupted: %w)", err, ctx.Err())
			attempt = s.cfg.Attempts
		case <-time.After(wait):
		}
		delay = min(delay*2, s.cfg.MaxBackoff)
	}
	if err != nil {
		var rt *retryable
		if errors.As(err, &rt) {
			err = rt.err
		}
		s.reportError(ctx, p, err, started)
		return res, err
	}
	s.sendMetadata(ctx, p)
	return res, nil
}

func (s *Submitter) post(ctx context.Context, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return s.cfg.HTTP.Do(req)
}

func (s *Submitter) postUsageData(ctx context.Context, payload []byte) (Result, error) {
	resp, err := s.post(ctx, "/usage_data", payload)
	if err != nil {
		return Result{}, &retryable{err: &SubmissionError{Msg: fmt.Sprintf("POST /usage_data: %v", err)}}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Result{}, &retryable{err: &SubmissionError{Status: resp.StatusCode, Msg: fmt.Sprintf("read /usage_data response: %v", err)}}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &SubmissionError{Status: resp.StatusCode, Msg: fmt.Sprintf("Unsuccessful response code: %d %s", resp.StatusCode, snippet(body))}
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return Result{}, &retryable{err: e, after: retryAfter(resp.Header.Get("Retry-After"))}
		}
		return Result{}, e
	}
	var parsed map[string]json.RawMessage
	if err := json.Unmarshal(body, &parsed); err != nil {
		return Result{}, &SubmissionError{Status: resp.StatusCode, Msg: "Invalid usage_data_id in response: body is not a JSON object"}
	}
	for _, key := range []string{"conv_index", "dev_ops_score"} {
		raw, ok := parsed[key]
		if !ok {
			continue
		}
		var ci map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&ci); err != nil {
			continue
		}
		id, ok := usageDataID(ci["usage_data_id"])
		if !ok {
			continue
		}
		return Result{UsageDataID: id, ConvIndex: ci}, nil
	}
	return Result{}, &SubmissionError{Status: resp.StatusCode, Msg: "Invalid usage_data_id in response: " + snippet(body)}
}

func usageDataID(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(h); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return time.Until(t)
	}
	return 0
}

func (s *Submitter) sendMetadata(ctx context.Context, p Ping) {
	metrics := p.Metrics
	if metrics == nil {
		metrics = []Timing{}
	}
	s.notify(ctx, "metadata", "/usage_ping_metadata", map[string]any{"metadata": map[string]any{"uuid": p.UUID, "metrics": metrics}})
}

// notify POSTs v as JSON to a path whose answer is ignored (metadata, error
// report); a failure to encode or send it is logged as "encode what" or
// "send what".
func (s *Submitter) notify(ctx context.Context, what, path string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.cfg.Log.Warn("encode "+what, "err", err)
		return
	}
	resp, err := s.post(ctx, path, body)
	if err != nil {
		s.cfg.Log.Warn("send "+what, "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// ReportError sends an error report for a failure that happened outside
// Submit (e.g. collection itself failed). Failures to report are logged.
func (s *Submitter) ReportError(ctx context.Context, p Ping, cause error) {
	started := p.Started
	if started.IsZero() {
		started = s.cfg.Now()
	}
	s.reportError(ctx, p, cause, started)
}

func (s *Submitter) reportError(ctx context.Context, p Ping, cause error, started time.Time) {
	now := s.cfg.Now()
	elapsed := math.Round(now.Sub(started).Seconds()*10) / 10
	rep := ping.ErrorReport{
		Time: now.UTC().Format("2006-01-02 15:04:05 UTC"), UUID: p.UUID, Hostname: p.Hostname, Version: p.Version,
		Message: cause.Error() + " at serviceping collector submit", Elapsed: elapsed,
	}
	// The report goes out even when ctx was cancelled mid-retry.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s.notify(rctx, "error report", "/usage_ping_errors", map[string]ping.ErrorReport{"error": rep})
}
