// Package validate checks the JSON bodies the gateway accepts: Service
// Pings, collection error reports and per-metric timing metadata. One
// streaming pass over the bytes checks strict JSON (no duplicate names, no
// invalid UTF-8 or lone surrogates, no trailing data, numbers within
// float64), bounds nesting and leaf count, and extracts the few fields the
// gateway needs; the body itself is never rewritten.
package validate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/ping"
)

// Error codes of a rejected body, answered as {"error": code}.
const (
	CodeInvalidJSON      = "invalid_json"
	CodeInvalidRoot      = "invalid_root"
	CodeMissingField     = "missing_field"
	CodeInvalidField     = "invalid_field"
	CodeInvalidSection   = "invalid_section"
	CodeNumberOutOfRange = "number_out_of_range"
	CodeTooDeep          = "too_deep"
	CodeTooManyLeaves    = "too_many_leaves"
)

// Error is a rejection the client caused; Message is safe to show to it.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func reject(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Limits bound the shape of an accepted body.
type Limits struct {
	// MaxDepth is the deepest nesting of objects and arrays; the root object is level 1.
	MaxDepth int
	// MaxLeaves is the most scalar values (strings, numbers, booleans, nulls) below the root.
	MaxLeaves int
}

// DefaultLimits are generous for real pings (4 levels, ~3,000 leaves).
func DefaultLimits() Limits { return Limits{MaxDepth: 32, MaxLeaves: 100_000} }

// withDefaults puts the default in place of a limit that is not positive.
func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits().MaxDepth
	}
	if l.MaxLeaves <= 0 {
		l.MaxLeaves = DefaultLimits().MaxLeaves
	}
	return l
}

// Ping is what the gateway reads from a valid Service Ping.
type Ping struct {
	UUID string
	// RecordedAt exactly as sent (the ping_id is computed over it).
	RecordedAt string
	Version    string
	// Score holds what the DevOps Score reads: active_user_count and the
	// counters of the root counts object, and recorded_at (PingID is left
	// to the caller).
	Score devopsscore.Snapshot
}

// MaxVersionLen bounds the version string.
const MaxVersionLen = 64

// MaxUUIDLen bounds the uuid string.
const MaxUUIDLen = 128

// walker carries one validation pass; walkers are pooled.
type walker struct {
	dec    *jsontext.Decoder
	body   []byte
	lim    Limits
	leaves int
	// names of the members of the open objects, innermost last; starts[i]
	// is where the names of the i-th open object begin.
	names  []string
	starts []int
}

// pingFields is what a pass over a ping's bytes yields, before the checks
// of the fields themselves.
type pingFields struct {
	Ping
	seenUUID, seenRecorded, seenVersion bool
}

// DecodePing validates body as a Service Ping and returns its identity fields.
// A non-nil error is always an *Error.
func DecodePing(body []byte, lim Limits) (Ping, error) {
	lim = lim.withDefaults()
	f, ok := scanPing(body, lim)
	if !ok {
		var err error
		if f, err = walkPing(body, lim); err != nil {
			return Ping{}, err
		}
	}
	return f.check()
}

// walkPing is the jsontext pass over a ping: the reference the scanner's
// fast path follows, and the one that words every rejection.
func walkPing(body []byte, lim Limits) (pingFields, error) {
	var f pingFields
	err := walkObject(body, lim, func(w *walker, name string) error {
		switch {
		case name == "uuid":
			s, err := w.stringField(name)
			if err != nil {
				return err
			}
			f.UUID, f.seenUUID = s, true
		case name == "recorded_at":
			s, err := w.stringField(name)
			if err != nil {
				return err
			}
			f.RecordedAt, f.seenRecorded = s, true
		case name == "version":
			s, err := w.stringField(name)
			if err != nil {
				return err
			}
			f.Version, f.seenVersion = s, true
		case name == "counts" && w.dec.PeekKind() == '{':
			return w.counts(&f.Score)
		case name == "active_user_count" && w.dec.PeekKind() == '0':
			v, err := w.number()
			if err != nil {
				return err
			}
			f.Score.SetActiveUsers(v)
		case isSection(name):
			switch k := w.dec.PeekKind(); {
			case k == '{', k == 'n', !isValueStart(k):
				return w.value() // an invalid start surfaces as a syntax error
			default:
				return reject(CodeInvalidSection, "%q must be an object, got %s", name, kindName(k))
			}
		default:
			return w.value()
		}
		return nil
	})
	return f, err
}

// check applies the rules of the fields themselves.
func (f pingFields) check() (Ping, error) {
	p := f.Ping
	switch {
	case !f.seenUUID:
		return Ping{}, reject(CodeMissingField, `"uuid" is required`)
	case !f.seenRecorded:
		return Ping{}, reject(CodeMissingField, `"recorded_at" is required`)
	case !f.seenVersion:
		return Ping{}, reject(CodeMissingField, `"version" is required`)
	}
	if err := CheckUUID(p.UUID); err != nil {
		return Ping{}, err
	}
	rec, err := ping.ParseRecordedAt(p.RecordedAt)
	if err != nil {
		return Ping{}, reject(CodeInvalidField, `"recorded_at" %s is not a timestamp (RFC 3339 or "YYYY-MM-DD HH:MM:SS UTC")`, quoteTrunc(p.RecordedAt))
	}
	if p.Version == "" || len(p.Version) > MaxVersionLen {
		return Ping{}, reject(CodeInvalidField, `"version" must be a non-empty string of at most %d bytes`, MaxVersionLen)
	}
	p.Score.RecordedAt = rec
	return p, nil
}

// CheckUUID enforces 1–128 characters of letters, digits and '-'.
func CheckUUID(s string) error {
	if s == "" || len(s) > MaxUUIDLen {
		return reject(CodeInvalidField, `"uuid" must be 1 to %d characters long`, MaxUUIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return reject(CodeInvalidField, `"uuid" may only contain letters, digits and '-'`)
		}
	}
	return nil
}

// isSection reports the top-level members that must be objects when present.
func isSection(name string) bool {
	switch name {
	case "redis_hll_counters", "settings", "topology", "license":
		return true
	}
	return strings.HasPrefix(name, "counts") || strings.HasPrefix(name, "usage_activity_by_stage")
}

// walkObject runs one strict pass over body, which must be exactly one JSON
// object. For each member of the root object it calls member, which must
// consume the member's value (w.value or w.stringField).
func walkObject(body []byte, lim Limits, member func(w *walker, name string) error) (err error) {
	w := walkers.Get().(*walker)
	w.dec.Reset(bytes.NewBuffer(body), dupNames)
	w.body, w.leaves = body, 0
	w.names, w.starts = w.names[:0], w.starts[:0]
	defer func() {
		// Drop every reference to body (names alias it).
		w.dec.Reset(eofReader{})
		clear(w.names[:cap(w.names)])
		w.body, w.names, w.starts = nil, w.names[:0], w.starts[:0]
		if cap(w.names) > 1<<14 {
			w.names = nil
		}
		walkers.Put(w)
	}()
	w.lim = lim.withDefaults()
	dec := w.dec

	switch k := dec.PeekKind(); {
	case k == '{':
	case !isValueStart(k):
		_, err := dec.ReadToken()
		return syntaxError(err)
	default:
		return reject(CodeInvalidRoot, "the body must be a JSON object, got %s", kindName(k))
	}
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err)
	}
	if err := w.members(func(name string) error { return member(w, name) }); err != nil {
		return err
	}
	// Exactly one value: anything but whitespace after it is rejected.
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			return reject(CodeInvalidJSON, "unexpected data after the JSON object at offset %d", dec.InputOffset())
		}
		return syntaxError(err)
	}
	return nil
}

// Duplicate names are detected by the walker without allocating (jsontext
// builds a map of fresh strings for every object with more than 64 names).
var dupNames = jsontext.AllowDuplicateNames(true)

var walkers = sync.Pool{New: func() any { return &walker{dec: new(jsontext.Decoder)} }}

// name returns the object member name tok, read from offset off; the
// string aliases the body when the name has no escapes.
func (w *walker) name(tok jsontext.Token, off int64) string {
	end := w.dec.InputOffset()
	var name string
	raw := w.body[off:end]
	if i := bytes.IndexByte(raw, '"'); i >= 0 && len(raw)-i >= 2 && bytes.IndexByte(raw[i:], '\\') < 0 {
		raw = raw[i+1 : len(raw)-1]
		if len(raw) > 0 {
			name = unsafe.String(&raw[0], len(raw))
		}
	} else {
		name = tok.String()
	}
	w.names = append(w.names, name)
	return name
}

// closeObject checks the names of the object just closed for duplicates.
func (w *walker) closeObject() error {
	start := w.starts[len(w.starts)-1]
	w.starts = w.starts[:len(w.starts)-1]
	names := w.names[start:]
	w.names = w.names[:start]
	dup, found := duplicate(names)
	if found {
		return reject(CodeInvalidJSON, "the body is not valid JSON: duplicate object member name %s within %s", quoteTrunc(dup), truncPointer(w.dec.StackPointer()))
	}
	return nil
}

// duplicate reports a name that occurs twice in names, which it may reorder.
func duplicate(names []string) (string, bool) {
	if len(names) <= 16 {
		for i := 1; i < len(names); i++ {
			for j := 0; j < i; j++ {
				if names[i] == names[j] {
					return names[i], true
				}
			}
		}
		return "", false
	}
	slices.Sort(names)
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			return names[i], true
		}
	}
	return "", false
}

// stringField consumes a member value that must be a JSON string.
func (w *walker) stringField(name string) (string, error) {
	k := w.dec.PeekKind()
	if !isValueStart(k) {
		_, err := w.dec.ReadToken()
		return "", syntaxError(err)
	}
	if k != '"' {
		return "", reject(CodeInvalidField, "%q must be a string, got %s", name, kindName(k))
	}
	tok, err := w.dec.ReadToken()
	if err != nil {
		return "", syntaxError(err)
	}
	w.leaves++
	return tok.String(), nil
}

// value consumes one complete value, counting leaves and checking depth,
// numbers and duplicate names.
func (w *walker) value() error {
	dec := w.dec
	base := dec.StackDepth()
	for {
		off := dec.InputOffset()
		tok, err := dec.ReadToken()
		if err != nil {
			return syntaxError(err)
		}
		switch tok.Kind() {
		case '{':
			w.starts = append(w.starts, len(w.names))
			fallthrough
		case '[':
			if d := dec.StackDepth(); d > w.lim.MaxDepth {
				return reject(CodeTooDeep, "nesting deeper than %d levels at %s", w.lim.MaxDepth, truncPointer(dec.StackPointer()))
			}
			continue
		case '}':
			if err := w.closeObject(); err != nil {
				return err
			}
		case ']':
		case '"':
			if dec.StackDepth() > base {
				if kind, n := dec.StackIndex(dec.StackDepth()); kind == '{' && n%2 == 1 {
					w.name(tok, off)
					continue // an object member name, not a leaf
				}
			}
			w.leaves++
		case '0':
			if !w.finite(tok, off) {
				return reject(CodeNumberOutOfRange, "number %s at %s is out of the float64 range", trunc(tok.String(), 40), truncPointer(dec.StackPointer()))
			}
			w.leaves++
		default: // true, false, null
			w.leaves++
		}
		if w.leaves > w.lim.MaxLeaves {
			return reject(CodeTooManyLeaves, "more than %d values", w.lim.MaxLeaves)
		}
		if dec.StackDepth() == base {
			return nil
		}
	}
}

// counts consumes the root counts object like value does, and records the
// members the DevOps Score reads when they are numbers.
func (w *walker) counts(s *devopsscore.Snapshot) error {
	dec := w.dec
	if _, err := dec.ReadToken(); err != nil { // '{', peeked by the caller
		return syntaxError(err)
	}
	if d := dec.StackDepth(); d > w.lim.MaxDepth {
		return reject(CodeTooDeep, "nesting deeper than %d levels at %s", w.lim.MaxDepth, truncPointer(dec.StackPointer()))
	}
	return w.members(func(name string) error {
		if i := devopsscore.CounterIndex(name); i >= 0 && dec.PeekKind() == '0' {
			v, err := w.number()
			if err != nil {
				return err
			}
			s.SetCounter(i, v)
			return nil
		}
		return w.value()
	})
}

// members reads the members of the object whose '{' was just read: for
// each name it calls member, which consumes the value; at the closing '}'
// the names are checked for duplicates.
func (w *walker) members(member func(name string) error) error {
	w.starts = append(w.starts, len(w.names))
	for {
		off := w.dec.InputOffset()
		tok, err := w.dec.ReadToken()
		if err != nil {
			return syntaxError(err)
		}
		if tok.Kind() == '}' {
			return w.closeObject()
		}
		if err := member(w.name(tok, off)); err != nil {
			return err
		}
	}
}

// number consumes a number value (the next kind is '0') and returns it.
func (w *walker) number() (float64, error) {
	tok, err := w.dec.ReadToken()
	if err != nil {
		return 0, syntaxError(err)
	}
	v, err := tok.Float()
	if err != nil {
		return 0, reject(CodeNumberOutOfRange, "number %s at %s is out of the float64 range", trunc(tok.String(), 40), truncPointer(w.dec.StackPointer()))
	}
	if w.leaves++; w.leaves > w.lim.MaxLeaves {
		return 0, reject(CodeTooManyLeaves, "more than %d values", w.lim.MaxLeaves)
	}
	return v, nil
}

// finite reports whether the number token read from off fits a float64.
// Without an exponent, fewer than 300 characters always fit; only the
// rest are parsed.
func (w *walker) finite(tok jsontext.Token, off int64) bool {
	raw := w.body[off:w.dec.InputOffset()]
	if len(raw) < 300 && !bytes.ContainsAny(raw, "eE") {
		return true
	}
	_, err := tok.Float()
	return err == nil
}

func syntaxError(err error) error {
	var serr *jsontext.SyntacticError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return reject(CodeInvalidJSON, "the JSON body is truncated")
	case errors.As(err, &serr):
		msg := strings.TrimPrefix(serr.Error(), "jsontext: ")
		return reject(CodeInvalidJSON, "the body is not valid JSON: %s", trunc(msg, 200))
	default:
		return reject(CodeInvalidJSON, "the body is not valid JSON")
	}
}

// isValueStart reports a kind that can begin a value (PeekKind reports
// '}' and ']' and 0 too, which are syntax errors where a value is expected).
func isValueStart(k jsontext.Kind) bool {
	switch k {
	case '{', '[', '"', '0', 't', 'f', 'n':
		return true
	}
	return false
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "invalid JSON"
	}
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func quoteTrunc(s string) string { return fmt.Sprintf("%q", trunc(s, 64)) }

func truncPointer(p jsontext.Pointer) string {
	if p == "" {
		return "the root"
	}
	return quoteTrunc(string(p))
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
