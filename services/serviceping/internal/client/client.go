// Package client posts Service Ping payloads to a gateway the way a GitLab
// instance does, for `serviceping send` and `serviceping loadgen`.
package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Response is the gateway's answer to POST /usage_data.
type Response struct {
	Status      int
	UsageDataID int64
	// Body is the raw response body (the JSON error on failure).
	Body []byte
	// RetryAfter is the Retry-After header of a 429/503.
	RetryAfter string
}

// Sender posts payloads to a gateway.
type Sender struct {
	HTTP       *http.Client
	GatewayURL string
}

// IsGzip reports whether b starts with the gzip magic number.
func IsGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// SendFile posts a payload file; a gzip file is sent compressed as is.
func (s Sender) SendFile(ctx context.Context, path string) (Response, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Response{}, fmt.Errorf("read payload: %w", err)
	}
	return s.Send(ctx, b, IsGzip(b))
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// Send posts body (already gzip-compressed when gzipped is true).
func (s Sender) Send(ctx context.Context, body []byte, gzipped bool) (Response, error) {
	url := strings.TrimRight(s.GatewayURL, "/") + "/usage_data"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Response{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	hc := s.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	out := Response{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	if out.Body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
		return out, fmt.Errorf("read response from %s: %w", url, err)
	}
	if resp.StatusCode/100 != 2 {
		return out, nil
	}
	var v struct {
		ConvIndex struct {
			UsageDataID int64 `json:"usage_data_id"`
		} `json:"conv_index"`
	}
	if err := json.Unmarshal(out.Body, &v); err != nil || v.ConvIndex.UsageDataID <= 0 {
		return out, fmt.Errorf("gateway answered %d without a positive conv_index.usage_data_id: %.200s", resp.StatusCode, out.Body)
	}
	out.UsageDataID = v.ConvIndex.UsageDataID
	return out, nil
}
