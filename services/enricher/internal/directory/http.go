package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/serviceping/serviceping/pkg/consume"

	"github.com/serviceping/serviceping/pkg/redact"
)

// maxBody bounds what is read of an API answer.
const maxBody = 1 << 20

// client is the HTTP plumbing the Licenses and CRM clients share.
type client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

func newClient(rawURL, token string) (client, error) {
	u, err := url.Parse(strings.TrimSuffix(rawURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return client{}, fmt.Errorf("API URL %q must be http(s)://host[:port][/base]", redact.URL(rawURL))
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	// No client-wide timeout: every call carries a per-attempt deadline.
	return client{base: u, token: token, hc: &http.Client{Transport: tr}}, nil
}

// do sends a request and decodes a 2xx JSON answer into out (when not nil).
// 404 is ErrNotFound; 408, 425, 429 and 5xx are transient; any other
// status is permanent.
func (c client) do(ctx context.Context, method, path string, query url.Values, header http.Header, body, out any) (int, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, consume.Permanent(fmt.Errorf("encode request body: %w", err))
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, consume.Permanent(fmt.Errorf("build request: %w", err))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	switch s := resp.StatusCode; {
	case s/100 == 2:
		if out != nil && s != http.StatusNoContent {
			if err := json.Unmarshal(data, out); err != nil {
				return s, consume.Permanent(fmt.Errorf("%s %s: decode answer: %w", method, path, err))
			}
		}
		return s, nil
	case s == http.StatusNotFound:
		return s, ErrNotFound
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly, s == http.StatusTooManyRequests, s >= 500:
		return s, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, apiMessage(data))
	default:
		return s, consume.Permanent(fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, apiMessage(data)))
	}
}

// apiMessage extracts the contract's {"error", "message"} or a short excerpt.
func apiMessage(data []byte) string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &e) == nil && (e.Error != "" || e.Message != "") {
		return strings.TrimSpace(e.Error + " " + e.Message)
	}
	if len(data) > 200 {
		data = data[:200]
	}
	return string(data)
}

// LicensesAPI is a client of the Licenses API (api/openapi.yaml, tag
// licenses). Safe for concurrent use.
type LicensesAPI struct{ c client }

// NewLicensesAPI returns a client for the API at baseURL (http or https),
// sending token as a bearer token when not empty.
func NewLicensesAPI(baseURL, token string) (*LicensesAPI, error) {
	c, err := newClient(baseURL, token)
	if err != nil {
		return nil, fmt.Errorf("licenses API: %w", err)
	}
	return &LicensesAPI{c: c}, nil
}

func keyQuery(k LicenseKey) url.Values { return url.Values{string(k.Kind): {k.Value}} }

// LookupLicense asks GET /v1/licenses/lookup for the license's subscription.
func (a *LicensesAPI) LookupLicense(ctx context.Context, k LicenseKey) (License, error) {
	var out License
	if _, err := a.c.do(ctx, http.MethodGet, "/v1/licenses/lookup", keyQuery(k), nil, nil, &out); err != nil {
		if errors.Is(err, ErrNotFound) {
			return License{}, err
		}
		return License{}, fmt.Errorf("look up license %s: %w", k, err)
	}
	return out, nil
}

// TouchLicense reports the license's ping time with POST
// /v1/licenses/last_ping; the API keeps the latest. An unknown license is
// not an error.
func (a *LicensesAPI) TouchLicense(ctx context.Context, k LicenseKey, at time.Time, pingID string) error {
	body := struct {
		PingedAt time.Time `json:"pinged_at"`
		PingID   string    `json:"ping_id"`
	}{at.UTC(), pingID}
	_, err := a.c.do(ctx, http.MethodPost, "/v1/licenses/last_ping", keyQuery(k), nil, body, nil)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("record last ping time of license %s: %w", k, err)
	}
	return nil
}

// CRMAPI is a client of the CRM API (api/openapi.yaml, tag crm). Safe for
// concurrent use.
type CRMAPI struct{ c client }

// NewCRMAPI returns a client for the API at baseURL.
func NewCRMAPI(baseURL, token string) (*CRMAPI, error) {
	c, err := newClient(baseURL, token)
	if err != nil {
		return nil, fmt.Errorf("CRM API: %w", err)
	}
	return &CRMAPI{c: c}, nil
}

// LookupAccount asks GET /v1/subscriptions/{id}/account.
func (a *CRMAPI) LookupAccount(ctx context.Context, subscriptionID string) (Account, error) {
	var out Account
	if _, err := a.c.do(ctx, http.MethodGet, "/v1/subscriptions/"+url.PathEscape(subscriptionID)+"/account", nil, nil, nil, &out); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Account{}, err
		}
		return Account{}, fmt.Errorf("look up account of subscription %s: %w", subscriptionID, err)
	}
	if out.AccountID == "" {
		return Account{}, ErrNotFound
	}
	return out, nil
}

// PushUsage sends POST /v1/accounts/{id}/usage with Idempotency-Key =
// ping_id: the CRM records one usage per key, so a retry is harmless. A 404
// (the account vanished) is permanent.
func (a *CRMAPI) PushUsage(ctx context.Context, u Usage) error {
	if err := u.Validate(); err != nil {
		return consume.Permanent(err)
	}
	h := http.Header{"Idempotency-Key": {u.PingID}}
	_, err := a.c.do(ctx, http.MethodPost, "/v1/accounts/"+url.PathEscape(u.AccountID)+"/usage", nil, h, u, nil)
	if errors.Is(err, ErrNotFound) {
		return consume.Permanent(fmt.Errorf("push usage of ping %s: account %s unknown to the CRM", u.PingID, u.AccountID))
	}
	if err != nil {
		return fmt.Errorf("push usage of ping %s: %w", u.PingID, err)
	}
	return nil
}

// Close drops idle connections.
func (a *LicensesAPI) Close() { a.c.hc.CloseIdleConnections() }

// Close drops idle connections.
func (a *CRMAPI) Close() { a.c.hc.CloseIdleConnections() }
