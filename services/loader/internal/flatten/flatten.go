// Package flatten turns a Service Ping payload into one row per leaf: the
// rule behind the ping_metrics table (docs/contracts.md, "Warehouse
// (ClickHouse)").
//
// The rule:
//
//   - Every scalar leaf (number, boolean, string, null) becomes one Leaf keyed
//     by its dotted path from the root: counts.issues,
//     usage_activity_by_stage_monthly.plan.issues. Keys are used as sent
//     (unescaped): a key that itself contains a dot is kept as-is, so
//     {"a.b": 1} and {"a": {"b": 1}} both yield the path "a.b". The payload
//     schema has no such keys; the raw payload (pings.payload) disambiguates
//     if one ever appears.
//   - An array is ONE leaf of kind Array whose Text is the array's JSON,
//     compacted (insignificant whitespace removed, strings byte for byte as
//     sent). Arrays are not descended into.
//   - An empty object below the root is one leaf of kind Object with Text
//     "{}", so nothing the instance sent is invisible (e.g.
//     license_add_ons: {}). Non-empty objects are descended into and emit
//     no row of their own (unlike Snowflake's recursive FLATTEN, which GitLab's
//     dbt uses and which emits a row per node). An empty root yields no leaf.
//   - Numbers: Value is the float64 of the literal. Integers up to 2^53 are
//     exact. When the float64 does not reproduce the literal (its shortest
//     round-trip decimal differs numerically, e.g. 6842684531675334351 or
//     1e400), Text keeps the literal as sent; otherwise Text is empty.
//   - Booleans: Value 1 or 0, Text empty. Strings: Text is the unescaped
//     string (invalid UTF-8 and lone surrogates become U+FFFD, as
//     encoding/json does). null: kind Null, no Value, Text empty.
//   - Fallback is set for numbers whose value is exactly -1, -2 or -1000
//     (GitLab's FALLBACK, distributed-HLL error and deprecated-metric
//     sentinels). A string "-1" or a number -1.5 is not a fallback.
//   - Order is the payload order (a depth-first walk of the document as
//     sent), so the same bytes always give the same rows in the same order.
//     Duplicate names are not merged: each occurrence is a row (the gateway
//     rejects duplicates before they get here).
//
// The walk is a single pass over the bytes with no intermediate tree, and
// key paths are interned across pings, so a full-size ping costs a few
// hundred microseconds and its paths are shared by every ping of a batch.
package flatten

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is the JSON kind of a leaf; its String is the value_kind column.
type Kind uint8

// Leaf kinds.
const (
	Number Kind = iota + 1
	Boolean
	String
	Array
	Object
	Null
)

var kindNames = [...]string{Number: "number", Boolean: "boolean", String: "string", Array: "array", Object: "object", Null: "null"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Leaf is one flattened value.
type Leaf struct {
	// Path is the dotted key path from the root.
	Path string
	// Text holds strings, the JSON of arrays and empty objects, and the
	// original literal of numbers that float64 cannot reproduce.
	Text string
	// Value holds numbers, and booleans as 1/0. Meaningful when HasValue.
	Value float64
	Kind  Kind
	// Fallback is true for numbers equal to -1, -2 or -1000.
	Fallback bool
}

// HasValue reports whether Value carries the leaf (numbers and booleans).
func (l Leaf) HasValue() bool { return l.Kind == Number || l.Kind == Boolean }

// IsFallback reports whether v is one of GitLab's fallback values.
func IsFallback(v float64) bool { return v == -1 || v == -2 || v == -1000 }

const (
	// MaxDepth bounds nesting; the gateway enforces a far smaller limit.
	MaxDepth = 512
	// maxInterned bounds the path cache; paths beyond it are still
	// returned, just not shared.
	maxInterned = 1 << 18
)

// ErrSyntax is wrapped by every error about malformed JSON.
var ErrSyntax = errors.New("invalid JSON")

// Flattener flattens payloads, reusing buffers and interning key paths
// between calls. It is not safe for concurrent use; the zero value is
// ready to use.
type Flattener struct {
	path    []byte
	scratch []byte
	intern  map[string]string
}

// Flatten is a convenience for New-less one-off use.
func Flatten(payload []byte) ([]Leaf, error) {
	var f Flattener
	return f.Append(nil, payload)
}

// Append appends the leaves of payload, which must be one JSON object, to
// dst. On error dst is returned unchanged.
func (f *Flattener) Append(dst []Leaf, payload []byte) ([]Leaf, error) {
	if f.intern == nil {
		f.intern = make(map[string]string, 4096)
	}
	s := scanner{data: payload}
	s.skipWS()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return dst, fmt.Errorf("%w: payload is not a JSON object", ErrSyntax)
	}
	f.path = f.path[:0]
	out, err := f.object(&s, dst, 0)
	if err != nil {
		return dst, err
	}
	s.skipWS()
	if s.pos != len(s.data) {
		return dst, s.errorf("data after the top-level object")
	}
	return out, nil
}

type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, s.pos, fmt.Sprintf(format, args...))
}

func (s *scanner) skipWS() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// object walks the object at s.pos ('{').
func (f *Flattener) object(s *scanner, dst []Leaf, depth int) ([]Leaf, error) {
	if depth >= MaxDepth {
		return dst, s.errorf("nesting deeper than %d", MaxDepth)
	}
	s.pos++ // '{'
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		if depth > 0 {
			dst = append(dst, Leaf{Path: f.pathString(), Kind: Object, Text: "{}"})
		}
		return dst, nil
	}
	base := len(f.path)
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return dst, s.errorf("expected an object name")
		}
		if base > 0 {
			f.path = append(f.path, '.')
		}
		var err error
		f.path, err = s.appendString(f.path)
		if err != nil {
			return dst, err
		}
		s.skipWS()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return dst, s.errorf("expected ':' after an object name")
		}
		s.pos++
		s.skipWS()
		if dst, err = f.value(s, dst, depth+1); err != nil {
			return dst, err
		}
		f.path = f.path[:base]
		s.skipWS()
		if s.pos >= len(s.data) {
			return dst, s.errorf("unterminated object")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case '}':
			s.pos++
			return dst, nil
		default:
			return dst, s.errorf("expected ',' or '}' in an object")
		}
	}
}

func (f *Flattener) value(s *scanner, dst []Leaf, depth int) ([]Leaf, error) {
	if s.pos >= len(s.data) {
		return dst, s.errorf("unexpected end of input")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return f.object(s, dst, depth)
	case c == '[':
		start := s.pos
		spaced, err := s.skipValue(depth)
		if err != nil {
			return dst, err
		}
		raw := s.data[start:s.pos]
		if spaced {
			f.scratch = compact(f.scratch[:0], raw)
			raw = f.scratch
		}
		if !utf8.Valid(raw) {
			raw = appendValidUTF8(nil, raw) // rare: raw may alias f.scratch
		}
		text := string(raw)
		return append(dst, Leaf{Path: f.pathString(), Kind: Array, Text: text}), nil
	case c == '"':
		var err error
		f.scratch, err = s.appendString(f.scratch[:0])
		if err != nil {
			return dst, err
		}
		return append(dst, Leaf{Path: f.pathString(), Kind: String, Text: string(f.scratch)}), nil
	case c == 't':
		if err := s.literal("true"); err != nil {
			return dst, err
		}
		return append(dst, Leaf{Path: f.pathString(), Kind: Boolean, Value: 1}), nil
	case c == 'f':
		if err := s.literal("false"); err != nil {
			return dst, err
		}
		return append(dst, Leaf{Path: f.pathString(), Kind: Boolean, Value: 0}), nil
	case c == 'n':
		if err := s.literal("null"); err != nil {
			return dst, err
		}
		return append(dst, Leaf{Path: f.pathString(), Kind: Null}), nil
	case c == '-' || (c >= '0' && c <= '9'):
		v, text, err := s.number()
		if err != nil {
			return dst, err
		}
		return append(dst, Leaf{Path: f.pathString(), Kind: Number, Value: v, Text: text, Fallback: IsFallback(v)}), nil
	default:
		return dst, s.errorf("unexpected character %q", c)
	}
}

// pathString returns the current path, interned.
func (f *Flattener) pathString() string {
	if p, ok := f.intern[string(f.path)]; ok {
		return p
	}
	p := string(f.path)
	if len(f.intern) < maxInterned {
		f.intern[p] = p
	}
	return p
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.errorf("invalid literal, expected %s", lit)
	}
	s.pos += len(lit)
	return nil
}

// number scans a number literal. text is non-empty when the float64 does
// not reproduce the literal.
func (s *scanner) number() (v float64, text string, err error) {
	start := s.pos
	d := s.data
	neg := false
	if d[s.pos] == '-' {
		neg = true
		s.pos++
	}
	if s.pos >= len(d) {
		return 0, "", s.errorf("truncated number")
	}
	intStart := s.pos
	var n uint64
	switch c := d[s.pos]; {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			n = n*10 + uint64(d[s.pos]-'0') // overflow is harmless: only used when ≤ 15 digits
			s.pos++
		}
	default:
		return 0, "", s.errorf("invalid number")
	}
	intDigits := s.pos - intStart
	isInt := true
	fracDigits := 0
	if s.pos < len(d) && d[s.pos] == '.' {
		isInt = false
		s.pos++
		fs := s.pos
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
		}
		fracDigits = s.pos - fs
		if fracDigits == 0 {
			return 0, "", s.errorf("invalid number: no digits after '.'")
		}
	}
	hasExp := false
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		isInt = false
		hasExp = true
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		es := s.pos
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
		}
		if s.pos == es {
			return 0, "", s.errorf("invalid number: no digits in exponent")
		}
	}
	if isInt && intDigits <= 15 {
		v = float64(n)
		if neg {
			v = -v
		}
		return v, "", nil
	}
	lit := string(d[start:s.pos])
	v, perr := strconv.ParseFloat(lit, 64)
	if perr != nil {
		var ne *strconv.NumError
		if !errors.As(perr, &ne) || ne.Err != strconv.ErrRange {
			return 0, "", s.errorf("invalid number %q", lit)
		}
		return v, lit, nil // ±Inf or 0 from out-of-range: keep the text
	}
	// Up to 15 significant digits always survive a float64 round trip.
	if !hasExp && intDigits+fracDigits <= 15 {
		return v, "", nil
	}
	if sameDecimal(lit, strconv.FormatFloat(v, 'e', -1, 64)) {
		return v, "", nil
	}
	return v, lit, nil
}

// sameDecimal reports whether two decimal literals denote the same number.
func sameDecimal(a, b string) bool {
	na, da, ea := canonical(a)
	nb, db, eb := canonical(b)
	if da == "" && db == "" {
		return true // both zero, whatever the sign
	}
	return na == nb && da == db && ea == eb
}

// canonical returns sign, significant digits (no leading or trailing
// zeros) and the exponent e such that the value is 0.digits × 10^e.
func canonical(s string) (neg bool, digits string, exp int) {
	if s != "" && s[0] == '-' {
		neg = true
		s = s[1:]
	}
	var buf []byte
	pointPos := -1
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			pointPos = len(buf)
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		buf = append(buf, c)
	}
	if pointPos < 0 {
		pointPos = len(buf)
	}
	e := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		x, err := strconv.Atoi(s[i+1:])
		if err != nil {
			x = math.MaxInt32
		}
		e = x
	}
	lead := 0
	for lead < len(buf) && buf[lead] == '0' {
		lead++
	}
	trail := len(buf)
	for trail > lead && buf[trail-1] == '0' {
		trail--
	}
	if lead == trail {
		return neg, "", 0
	}
	return neg, string(buf[lead:trail]), pointPos - lead + e
}

// appendString scans the string at s.pos ('"') and appends its unescaped
// bytes to dst.
func (s *scanner) appendString(dst []byte) ([]byte, error) {
	d := s.data
	s.pos++ // opening quote
	start := s.pos
	high := false
	for s.pos < len(d) {
		c := d[s.pos]
		if c == '"' {
			seg := d[start:s.pos]
			s.pos++
			if high && !utf8.Valid(seg) {
				return appendValidUTF8(dst, seg), nil
			}
			return append(dst, seg...), nil
		}
		if c == '\\' {
			return s.appendEscaped(dst, start)
		}
		if c < 0x20 {
			return dst, s.errorf("control character in string")
		}
		if c >= 0x80 {
			high = true
		}
		s.pos++
	}
	return dst, s.errorf("unterminated string")
}

// appendEscaped continues appendString once a backslash is seen.
func (s *scanner) appendEscaped(dst []byte, start int) ([]byte, error) {
	d := s.data
	mark := len(dst)
	dst = append(dst, d[start:s.pos]...)
	for s.pos < len(d) {
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			if !utf8.Valid(dst[mark:]) {
				fixed := appendValidUTF8(nil, dst[mark:])
				dst = append(dst[:mark], fixed...)
			}
			return dst, nil
		case c < 0x20:
			return dst, s.errorf("control character in string")
		case c != '\\':
			dst = append(dst, c)
			s.pos++
			continue
		}
		// backslash
		if s.pos+1 >= len(d) {
			return dst, s.errorf("unterminated escape")
		}
		e := d[s.pos+1]
		s.pos += 2
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return dst, s.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if s.pos+1 < len(d) && d[s.pos] == '\\' && d[s.pos+1] == 'u' {
					save := s.pos
					s.pos += 2
					if x, ok := s.hex4(); ok {
						r2 = x
					} else {
						return dst, s.errorf("invalid \\u escape")
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					s.pos = save // not a pair: the second escape stands alone
				}
				dst = utf8.AppendRune(dst, utf8.RuneError)
				continue
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, s.errorf("invalid escape \\%c", e)
		}
	}
	return dst, s.errorf("unterminated string")
}

func (s *scanner) hex4() (rune, bool) {
	if len(s.data)-s.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	s.pos += 4
	return r, true
}

// appendValidUTF8 appends b with every invalid byte replaced by U+FFFD,
// as encoding/json does.
func appendValidUTF8(dst, b []byte) []byte {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, b[:size]...)
		}
		b = b[size:]
	}
	return dst
}

// skipValue validates and skips the value at s.pos. spaced reports whether
// it contains insignificant whitespace (so it needs compacting).
func (s *scanner) skipValue(depth int) (spaced bool, err error) {
	if depth >= MaxDepth {
		return false, s.errorf("nesting deeper than %d", MaxDepth)
	}
	if s.pos >= len(s.data) {
		return false, s.errorf("unexpected end of input")
	}
	d := s.data
	switch c := d[s.pos]; {
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		s.pos++
		ws := s.pos
		s.skipWS()
		spaced = s.pos != ws
		if s.pos < len(d) && d[s.pos] == closer {
			s.pos++
			return spaced, nil
		}
		for {
			if c == '{' {
				if s.pos >= len(d) || d[s.pos] != '"' {
					return spaced, s.errorf("expected an object name")
				}
				if err := s.skipString(); err != nil {
					return spaced, err
				}
				ws = s.pos
				s.skipWS()
				if s.pos >= len(d) || d[s.pos] != ':' {
					return spaced, s.errorf("expected ':' after an object name")
				}
				s.pos++
				s.skipWS()
				spaced = spaced || s.pos != ws+1
			}
			sp, err := s.skipValue(depth + 1)
			if err != nil {
				return spaced, err
			}
			spaced = spaced || sp
			ws = s.pos
			s.skipWS()
			spaced = spaced || s.pos != ws
			if s.pos >= len(d) {
				return spaced, s.errorf("unterminated %c", c)
			}
			switch d[s.pos] {
			case ',':
				s.pos++
				ws = s.pos
				s.skipWS()
				spaced = spaced || s.pos != ws
			case closer:
				s.pos++
				return spaced, nil
			default:
				return spaced, s.errorf("expected ',' or '%c'", closer)
			}
		}
	case c == '"':
		return false, s.skipString()
	case c == 't':
		return false, s.literal("true")
	case c == 'f':
		return false, s.literal("false")
	case c == 'n':
		return false, s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		_, _, err := s.number()
		return false, err
	default:
		return false, s.errorf("unexpected character %q", c)
	}
}

// skipString validates and skips a string without decoding it.
func (s *scanner) skipString() error {
	d := s.data
	s.pos++
	for s.pos < len(d) {
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			return nil
		case c == '\\':
			if s.pos+1 >= len(d) {
				return s.errorf("unterminated escape")
			}
			switch d[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				s.pos += 2
				if _, ok := s.hex4(); !ok {
					return s.errorf("invalid \\u escape")
				}
			default:
				return s.errorf("invalid escape")
			}
		case c < 0x20:
			return s.errorf("control character in string")
		default:
			s.pos++
		}
	}
	return s.errorf("unterminated string")
}

// compact appends raw (valid JSON) without insignificant whitespace.
func compact(dst, raw []byte) []byte {
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			dst = append(dst, c)
			switch c {
			case '\\':
				i++
				dst = append(dst, raw[i])
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
		case '"':
			inString = true
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
