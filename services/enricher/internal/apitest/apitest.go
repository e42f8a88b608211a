// Package apitest serves the Licenses and CRM APIs of
// services/enricher/api/openapi.yaml from memory, for tests: the third-party
// systems that cannot run here. Every request and answer body is checked
// against the contract's schemas; violations are collected for the test to
// fail on. The server can be taken down (answers 503) and counts calls.
package apitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/serviceping/serviceping/services/enricher/internal/seed"
)

// Contract holds the compiled component schemas of an OpenAPI file.
type Contract struct {
	schemas map[string]*jsonschema.Schema
}

// LoadContract compiles every schema under components/schemas of the
// OpenAPI 3.1 file at path (its schemas are JSON Schema 2020-12).
func LoadContract(path string) (*Contract, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read contract: %w", err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse contract %s: %w", path, err)
	}
	// Round-trip through JSON: the validator wants JSON values.
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("contract %s as JSON: %w", path, err)
	}
	val, err := jsonschema.UnmarshalJSON(strings.NewReader(string(js)))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	const loc = "file:///openapi.json"
	if err := c.AddResource(loc, val); err != nil {
		return nil, fmt.Errorf("load contract: %w", err)
	}
	comps, _ := val.(map[string]any)["components"].(map[string]any)
	names, _ := comps["schemas"].(map[string]any)
	if len(names) == 0 {
		return nil, fmt.Errorf("contract %s has no components/schemas", path)
	}
	ct := &Contract{schemas: map[string]*jsonschema.Schema{}}
	for name := range names {
		s, err := c.Compile(loc + "#/components/schemas/" + name)
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", name, err)
		}
		ct.schemas[name] = s
	}
	return ct, nil
}

// Check validates a JSON body against the named schema.
func (c *Contract) Check(schema string, body []byte) error {
	s, ok := c.schemas[schema]
	if !ok {
		return fmt.Errorf("contract has no schema %s", schema)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("%s body is not JSON: %w", schema, err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s body breaks the contract: %w", schema, err)
	}
	return nil
}

// Server is an in-memory Licenses API and CRM. Safe for concurrent use.
type Server struct {
	contract *Contract

	mu         sync.Mutex
	licenses   map[string]*license // by "md5:…", "sha256:…", "license_id:…"
	accounts   map[string]string   // subscription → account id
	names      map[string]string   // account id → name
	usage      map[string][]byte   // Idempotency-Key → body
	violations []error

	down atomic.Bool
	// calls counts requests by operation id (lookupLicense, recordLicensePing,
	// lookupAccount, pushAccountUsage), including refused ones, and
	// pushAccountUsage:duplicate for pushes of a key recorded already.
	calls sync.Map
	// LookupDelay is added to every lookup (stampede tests).
	LookupDelay atomic.Int64
}

type license struct {
	subscriptionID, plan string
	seats                int64
	lastPing             time.Time
}

// NewServer serves the seed data, checking bodies against contract.
func NewServer(contract *Contract, d seed.Data) *Server {
	s := &Server{contract: contract, licenses: map[string]*license{}, accounts: map[string]string{}, names: map[string]string{}, usage: map[string][]byte{}}
	seats := map[string]int64{}
	for _, sub := range d.Subscriptions {
		seats[sub.SubscriptionID] = sub.Seats
		if sub.AccountID != "" {
			s.accounts[sub.SubscriptionID] = sub.AccountID
		}
	}
	for _, a := range d.Accounts {
		s.names[a.AccountID] = a.Name
	}
	for _, l := range d.Licenses {
		rec := &license{subscriptionID: l.SubscriptionID, plan: l.Plan, seats: seats[l.SubscriptionID]}
		s.licenses["md5:"+l.MD5] = rec
		s.licenses["sha256:"+l.SHA256] = rec
		s.licenses[fmt.Sprintf("license_id:%d", l.LicenseID)] = rec
	}
	return s
}

// SetDown makes every request answer 503 (true) or be served again (false).
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// Calls returns how many requests the operation received.
func (s *Server) Calls(op string) int64 {
	v, ok := s.calls.Load(op)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func (s *Server) count(op string) {
	v, _ := s.calls.LoadOrStore(op, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Violations returns the contract violations seen so far.
func (s *Server) Violations() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.violations...)
}

// Usage returns the recorded usage bodies by Idempotency-Key.
func (s *Server) Usage() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte, len(s.usage))
	for k, v := range s.usage {
		out[k] = v
	}
	return out
}

// LastPing returns the recorded last ping time of the license with md5.
func (s *Server) LastPing(md5 string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.licenses["md5:"+md5]; l != nil {
		return l.lastPing
	}
	return time.Time{}
}

func (s *Server) violate(err error) {
	s.mu.Lock()
	s.violations = append(s.violations, err)
	s.mu.Unlock()
}

var (
	accountPath = regexp.MustCompile(`^/v1/subscriptions/([^/]+)/account$`)
	usagePath   = regexp.MustCompile(`^/v1/accounts/([^/]+)/usage$`)
)

// ServeHTTP routes the contract's four operations.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := "unknown"
	switch {
	case r.URL.Path == "/v1/licenses/lookup" && r.Method == http.MethodGet:
		op = "lookupLicense"
	case r.URL.Path == "/v1/licenses/last_ping" && r.Method == http.MethodPost:
		op = "recordLicensePing"
	case accountPath.MatchString(r.URL.Path) && r.Method == http.MethodGet:
		op = "lookupAccount"
	case usagePath.MatchString(r.URL.Path) && r.Method == http.MethodPost:
		op = "pushAccountUsage"
	}
	s.count(op)
	if s.down.Load() {
		s.answer(w, http.StatusServiceUnavailable, "", map[string]string{"error": "unavailable", "message": "down for the test"})
		return
	}
	if d := s.LookupDelay.Load(); d > 0 && (op == "lookupLicense" || op == "lookupAccount") {
		time.Sleep(time.Duration(d)) // simulated source latency
	}
	switch op {
	case "lookupLicense":
		s.lookupLicense(w, r)
	case "recordLicensePing":
		s.recordPing(w, r)
	case "lookupAccount":
		s.lookupAccount(w, r)
	case "pushAccountUsage":
		s.pushUsage(w, r)
	default:
		s.violate(fmt.Errorf("request outside the contract: %s %s", r.Method, r.URL.Path))
		s.answer(w, http.StatusNotFound, "Error", map[string]string{"error": "not_found", "message": "no such route"})
	}
}

// key reads the one license identifier the contract allows.
func (s *Server) key(w http.ResponseWriter, r *http.Request) (string, bool) {
	var keys []string
	for _, k := range []string{"md5", "sha256", "license_id"} {
		if v := r.URL.Query().Get(k); v != "" {
			keys = append(keys, k+":"+v)
		}
	}
	if len(keys) != 1 {
		s.violate(fmt.Errorf("%s %s: want exactly one of md5, sha256, license_id; got %v", r.Method, r.URL.Path, keys))
		s.answer(w, http.StatusBadRequest, "Error", map[string]string{"error": "bad_request", "message": "exactly one license identifier"})
		return "", false
	}
	return keys[0], true
}

func (s *Server) lookupLicense(w http.ResponseWriter, r *http.Request) {
	k, ok := s.key(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	l := s.licenses[k]
	var out map[string]any
	if l != nil {
		out = map[string]any{"subscription_id": l.subscriptionID, "plan": l.plan, "seats": l.seats}
	}
	s.mu.Unlock()
	if out == nil {
		s.answer(w, http.StatusNotFound, "Error", map[string]string{"error": "not_found"})
		return
	}
	s.answer(w, http.StatusOK, "License", out)
}

func (s *Server) recordPing(w http.ResponseWriter, r *http.Request) {
	k, ok := s.key(w, r)
	if !ok {
		return
	}
	body, ok := s.body(w, r, "LicensePing")
	if !ok {
		return
	}
	var p struct {
		PingedAt time.Time `json:"pinged_at"`
	}
	_ = json.Unmarshal(body, &p)
	s.mu.Lock()
	l := s.licenses[k]
	if l != nil && p.PingedAt.After(l.lastPing) {
		l.lastPing = p.PingedAt
	}
	s.mu.Unlock()
	if l == nil {
		s.answer(w, http.StatusNotFound, "Error", map[string]string{"error": "not_found"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) lookupAccount(w http.ResponseWriter, r *http.Request) {
	sub := accountPath.FindStringSubmatch(r.URL.Path)[1]
	s.mu.Lock()
	id, ok := s.accounts[sub]
	name := s.names[id]
	s.mu.Unlock()
	if !ok {
		s.answer(w, http.StatusNotFound, "Error", map[string]string{"error": "not_found"})
		return
	}
	s.answer(w, http.StatusOK, "Account", map[string]string{"account_id": id, "name": name})
}

func (s *Server) pushUsage(w http.ResponseWriter, r *http.Request) {
	acct := usagePath.FindStringSubmatch(r.URL.Path)[1]
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		s.violate(errors.New("usage push without Idempotency-Key"))
		s.answer(w, http.StatusBadRequest, "Error", map[string]string{"error": "bad_request", "message": "Idempotency-Key required"})
		return
	}
	body, ok := s.body(w, r, "AccountUsage")
	if !ok {
		return
	}
	var u struct {
		PingID    string `json:"ping_id"`
		AccountID string `json:"account_id"`
	}
	_ = json.Unmarshal(body, &u)
	if u.PingID != key || u.AccountID != acct {
		s.violate(fmt.Errorf("usage push: key %q / path account %q disagree with body %+v", key, acct, u))
	}
	s.mu.Lock()
	_, known := s.names[acct]
	_, dup := s.usage[key]
	if known && !dup {
		s.usage[key] = body
	}
	s.mu.Unlock()
	switch {
	case !known:
		s.answer(w, http.StatusNotFound, "Error", map[string]string{"error": "not_found", "message": "unknown account"})
	case dup:
		s.count("pushAccountUsage:duplicate")
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusCreated)
	}
}

func (s *Server) body(w http.ResponseWriter, r *http.Request, schema string) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.violate(fmt.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, ct))
	}
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = s.contract.Check(schema, body)
	}
	if err != nil {
		s.violate(fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, err))
		s.answer(w, http.StatusBadRequest, "Error", map[string]string{"error": "bad_request", "message": err.Error()})
		return nil, false
	}
	return body, true
}

// answer writes a JSON answer, checking it against the contract too.
func (s *Server) answer(w http.ResponseWriter, status int, schema string, v any) {
	b, _ := json.Marshal(v)
	if schema == "" {
		schema = "Error"
	}
	if err := s.contract.Check(schema, b); err != nil {
		s.violate(fmt.Errorf("server answer: %w", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
