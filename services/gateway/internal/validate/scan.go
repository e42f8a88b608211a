package validate

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/serviceping/serviceping/pkg/devopsscore"
)

// scanner is DecodePing's fast path: one pass over the bytes, building no
// tokens, that accepts only what the jsontext walker accepts and reads the
// same fields from it. Whatever it cannot vouch for it leaves to the
// walker, which then gives the answer and its exact message: every error,
// and the rare shapes the scanner does not handle — escaped member names
// or identity fields, \u escapes of surrogates, numbers that do not parse,
// nesting deeper than maxScanDepth.
//
// Its methods take the offset to read at and return the offset after what
// they consumed, and ok false to give up.
type scanner struct {
	b      []byte
	lim    Limits
	depth  int
	leaves int
	// names of the members of the open objects, innermost last; they
	// alias b.
	names []string
}

// maxScanDepth keeps the scanner well inside jsontext's own nesting limit.
const maxScanDepth = 1000

var scanners = sync.Pool{New: func() any { return new(scanner) }}

// scanPing is the fast path of DecodePing; ok is false when the walker
// must decide. lim has its defaults applied.
func scanPing(body []byte, lim Limits) (f pingFields, ok bool) {
	s := scanners.Get().(*scanner)
	s.b, s.lim, s.depth, s.leaves = body, lim, 0, 0
	defer func() {
		// Drop every reference to body (names alias it).
		clear(s.names[:cap(s.names)])
		s.b, s.names = nil, s.names[:0]
		if cap(s.names) > 1<<14 {
			s.names = nil
		}
		scanners.Put(s)
	}()
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return pingFields{}, false
	}
	i, ok = s.object(i, func(i int, name string) (int, bool) { return s.rootMember(i, &f, name) })
	return f, ok && skipWS(body, i) == len(body)
}

// rootMember consumes the value at i of the root member name, as
// DecodePing's walk does.
func (s *scanner) rootMember(i int, f *pingFields, name string) (int, bool) {
	var ok bool
	switch c := s.at(i); {
	case name == "uuid":
		i, f.UUID, ok = s.identity(i)
		f.seenUUID = true
		return i, ok
	case name == "recorded_at":
		i, f.RecordedAt, ok = s.identity(i)
		f.seenRecorded = true
		return i, ok
	case name == "version":
		i, f.Version, ok = s.identity(i)
		f.seenVersion = true
		return i, ok
	case name == "counts" && c == '{':
		return s.object(i, func(i int, name string) (int, bool) {
			if n := devopsscore.CounterIndex(name); n >= 0 && isNumberStart(s.at(i)) {
				i, v, ok := s.float(i)
				f.Score.SetCounter(n, v)
				return i, ok
			}
			return s.value(i)
		})
	case name == "active_user_count" && isNumberStart(c):
		i, v, ok := s.float(i)
		f.Score.SetActiveUsers(v)
		return i, ok
	case isSection(name) && c != '{' && c != 'n':
		return i, false
	}
	return s.value(i)
}

// at is the byte at i, 0 at the end.
func (s *scanner) at(i int) byte {
	if i < len(s.b) {
		return s.b[i]
	}
	return 0
}

// open enters the object or array opened at i (counting its depth) and
// skips to its first member; when close follows at once it is left again
// and empty is set. !ok: too deep.
func (s *scanner) open(i int, close byte) (next int, empty, ok bool) {
	s.depth++
	if s.depth > s.lim.MaxDepth || s.depth > maxScanDepth {
		return i, false, false
	}
	i = skipWS(s.b, i+1)
	if i < len(s.b) && s.b[i] == close {
		s.depth--
		return i + 1, true, true
	}
	return i, false, true
}

// object reads the object at i (a '{'): for each member it calls member
// (nil: value) at the value, then checks the names for duplicates.
func (s *scanner) object(i int, member func(i int, name string) (int, bool)) (int, bool) {
	i, empty, ok := s.open(i, '}')
	if !ok || empty {
		return i, ok
	}
	b := s.b
	start := len(s.names)
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		end, esc, ok := scanString(b, i+1)
		if !ok || esc {
			return i, false
		}
		name := text(b, i+1, end)
		s.names = append(s.names, name)
		i = skipWS(b, end+1)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		i = skipWS(b, i+1)
		if member == nil {
			i, ok = s.value(i)
		} else {
			i, ok = member(i, name)
		}
		if !ok {
			return i, false
		}
		var more bool
		if i, more, ok = s.after(i, '}'); !ok || !more {
			_, dup := duplicate(s.names[start:])
			s.names = s.names[:start]
			return i, ok && !dup
		}
	}
}

// array reads the array at i (a '[').
func (s *scanner) array(i int) (int, bool) {
	i, empty, ok := s.open(i, ']')
	if !ok || empty {
		return i, ok
	}
	for {
		var more bool
		if i, ok = s.value(i); !ok {
			return i, false
		}
		if i, more, ok = s.after(i, ']'); !ok || !more {
			return i, ok
		}
	}
}

// after reads what follows a member or element at i: a ',' (more follow,
// next is the offset of the next one) or close (the object or array
// ends, next is after it).
func (s *scanner) after(i int, close byte) (next int, more, ok bool) {
	b := s.b
	i = skipWS(b, i)
	switch {
	case i >= len(b):
		return i, false, false
	case b[i] == ',':
		return skipWS(b, i+1), true, true
	case b[i] == close:
		s.depth--
		return i + 1, false, true
	}
	return i, false, false
}

// value reads one complete value at i.
func (s *scanner) value(i int) (int, bool) {
	b := s.b
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '{':
		return s.object(i, nil)
	case '[':
		return s.array(i)
	case '"':
		end, _, ok := scanString(b, i+1)
		return end + 1, ok && s.leaf()
	case 't':
		return s.literal(i, "true")
	case 'f':
		return s.literal(i, "false")
	case 'n':
		return s.literal(i, "null")
	}
	end, simple, ok := scanNumber(b, i)
	if !ok {
		return i, false
	}
	if !simple {
		// Without an exponent, fewer than 300 characters always fit a
		// float64; the rest are parsed.
		if _, err := strconv.ParseFloat(text(b, i, end), 64); err != nil {
			return i, false
		}
	}
	return end, s.leaf()
}

func (s *scanner) leaf() bool {
	s.leaves++
	return s.leaves <= s.lim.MaxLeaves
}

func (s *scanner) literal(i int, lit string) (int, bool) {
	if len(s.b)-i < len(lit) || string(s.b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), s.leaf()
}

// identity reads a string value without escapes at i, copied out of b.
func (s *scanner) identity(i int) (int, string, bool) {
	if s.at(i) != '"' {
		return i, "", false
	}
	end, esc, ok := scanString(s.b, i+1)
	if !ok || esc || !s.leaf() {
		return i, "", false
	}
	return end + 1, string(s.b[i+1 : end]), true
}

// float reads the number value at i (it starts like one).
func (s *scanner) float(i int) (int, float64, bool) {
	end, _, ok := scanNumber(s.b, i)
	if !ok {
		return i, 0, false
	}
	v, err := strconv.ParseFloat(text(s.b, i, end), 64)
	return end, v, err == nil && s.leaf()
}

// plain marks the bytes a string holds as they are: printable ASCII but
// '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString reads the content of the string that starts at i (after its
// opening quote) and returns the offset of its closing quote. esc reports
// escapes in it.
func scanString(b []byte, i int) (end int, esc, ok bool) {
	for {
		i = plainRun(b, i)
		if i >= len(b) {
			return i, false, false
		}
		switch c := b[i]; {
		case c == '"':
			return i, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return i, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(b[i+2:])
				if !ok || 0xD800 <= r && r <= 0xDFFF {
					return i, false, false
				}
				i += 6
			default:
				return i, false, false
			}
		case c < 0x20:
			return i, false, false
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, false, false
			}
			i += size
		}
	}
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainRun returns the end of the run of plain bytes from i, eight at a
// time while it can.
func plainRun(b []byte, i int) int {
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		// The lowest flagged byte is the first that is '"' or '\' (a
		// zero byte of q or bs borrows), a control character (borrows)
		// or not ASCII; a borrow can only flag bytes above a true one.
		q, bs := x^(ones*'"'), x^(ones*'\\')
		if m := ((q - ones) | (bs - ones) | (x - ones*0x20) | x) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
	return i
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// scanNumber reads the number at i and returns its end. simple reports one
// without an exponent shorter than 300 bytes.
func scanNumber(b []byte, i int) (end int, simple, ok bool) {
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return i, false, false
	}
	if i < len(b) && b[i] == '.' {
		d := digits(b, i+1)
		if d == i+1 {
			return i, false, false
		}
		i = d
	}
	exp := i < len(b) && (b[i] == 'e' || b[i] == 'E')
	if exp {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := digits(b, i)
		if d == i {
			return i, false, false
		}
		i = d
	}
	return i, !exp && i-start < 300, true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func isNumberStart(c byte) bool { return c == '-' || '0' <= c && c <= '9' }

// text is b[start:end] as a string aliasing b.
func text(b []byte, start, end int) string {
	if start == end {
		return ""
	}
	return unsafe.String(&b[start], end-start)
}

// skipWS returns the offset of the first byte from i that is not JSON
// whitespace.
func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
