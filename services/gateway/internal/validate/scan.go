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
type scanner struct {
	b      []byte
	i      int
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
	s.b, s.i, s.lim, s.depth, s.leaves = body, 0, lim, 0, 0
	defer func() {
		// Drop every reference to body (names alias it).
		clear(s.names[:cap(s.names)])
		s.b, s.names = nil, s.names[:0]
		if cap(s.names) > 1<<14 {
			s.names = nil
		}
		scanners.Put(s)
	}()
	s.ws()
	if s.peek() != '{' || !s.open() {
		return pingFields{}, false
	}
	ok = s.members(func(name string) bool { return s.rootMember(&f, name) }) && s.end()
	return f, ok
}

// rootMember consumes the value of the root member name, as DecodePing's
// walk does.
func (s *scanner) rootMember(f *pingFields, name string) bool {
	var ok bool
	switch {
	case name == "uuid":
		f.UUID, ok = s.identity()
		f.seenUUID = true
		return ok
	case name == "recorded_at":
		f.RecordedAt, ok = s.identity()
		f.seenRecorded = true
		return ok
	case name == "version":
		f.Version, ok = s.identity()
		f.seenVersion = true
		return ok
	case name == "counts" && s.peek() == '{':
		return s.counts(&f.Score)
	case name == "active_user_count" && isNumberStart(s.peek()):
		v, ok := s.float()
		f.Score.SetActiveUsers(v)
		return ok
	case isSection(name):
		if c := s.peek(); c != '{' && c != 'n' {
			return false
		}
	}
	return s.value()
}

// counts consumes the root counts object (next is '{') and records the
// counters the DevOps Score reads.
func (s *scanner) counts(snap *devopsscore.Snapshot) bool {
	if !s.open() {
		return false
	}
	return s.members(func(name string) bool {
		if i := devopsscore.CounterIndex(name); i >= 0 && isNumberStart(s.peek()) {
			v, ok := s.float()
			snap.SetCounter(i, v)
			return ok
		}
		return s.value()
	})
}

// open consumes the '{' or '[' at i and enters it.
func (s *scanner) open() bool {
	s.i++
	s.depth++
	return s.depth <= s.lim.MaxDepth && s.depth <= maxScanDepth
}

// members reads the members of the object just opened up to its '}': for
// each name it calls member (nil: value), which consumes the value; then
// it checks the names for duplicates.
func (s *scanner) members(member func(name string) bool) bool {
	start := len(s.names)
	if s.empty('}') {
		return true
	}
	for {
		name, ok := s.name()
		if !ok {
			return false
		}
		s.names = append(s.names, name)
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		if member == nil {
			ok = s.value()
		} else {
			ok = member(name)
		}
		if !ok {
			return false
		}
		if more, ok := s.after('}'); !ok || !more {
			_, dup := duplicate(s.names[start:])
			s.names = s.names[:start]
			return ok && !dup
		}
	}
}

// elements reads the elements of the array just opened up to its ']'.
func (s *scanner) elements() bool {
	if s.empty(']') {
		return true
	}
	for {
		if !s.value() {
			return false
		}
		if more, ok := s.after(']'); !ok || !more {
			return ok
		}
	}
}

// empty consumes the close of the object or array just opened when it
// has nothing in it.
func (s *scanner) empty(close byte) bool {
	s.ws()
	if s.peek() != close {
		return false
	}
	s.i++
	s.depth--
	return true
}

// after consumes what follows a member or element: a ',' (more follow)
// or close (the object or array ends).
func (s *scanner) after(close byte) (more, ok bool) {
	s.ws()
	switch s.peek() {
	case ',':
		s.i++
		s.ws()
		return true, true
	case close:
		s.i++
		s.depth--
		return false, true
	}
	return false, false
}

// value consumes one complete value.
func (s *scanner) value() bool {
	switch c := s.peek(); c {
	case '{':
		return s.open() && s.members(nil)
	case '[':
		return s.open() && s.elements()
	case '"':
		_, _, _, ok := s.str()
		return ok && s.leaf()
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		start, end, simple, ok := s.number()
		if !ok {
			return false
		}
		if !simple {
			// Without an exponent, fewer than 300 characters always fit a
			// float64; the rest are parsed.
			if _, err := strconv.ParseFloat(s.text(start, end), 64); err != nil {
				return false
			}
		}
		return s.leaf()
	}
}

func (s *scanner) leaf() bool {
	s.leaves++
	return s.leaves <= s.lim.MaxLeaves
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return s.leaf()
}

// name reads a member name without escapes; it aliases b.
func (s *scanner) name() (string, bool) {
	if s.peek() != '"' {
		return "", false
	}
	start, end, esc, ok := s.str()
	if !ok || esc {
		return "", false
	}
	return s.text(start, end), true
}

// identity reads a string value without escapes, copied out of b.
func (s *scanner) identity() (string, bool) {
	if s.peek() != '"' {
		return "", false
	}
	start, end, esc, ok := s.str()
	if !ok || esc || !s.leaf() {
		return "", false
	}
	return string(s.b[start:end]), true
}

// float reads a number value (next is a number's start).
func (s *scanner) float() (float64, bool) {
	start, end, _, ok := s.number()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s.text(start, end), 64)
	return v, err == nil && s.leaf()
}

// plain marks the bytes a string holds as they are: printable ASCII but
// '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string at i; [start, end) is its content as written. esc
// reports escapes in it.
func (s *scanner) str() (start, end int, esc, ok bool) {
	b := s.b
	i := s.i + 1
	start = i
	for {
		i = plainRun(b, i)
		if i >= len(b) {
			return 0, 0, false, false
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return start, i, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, 0, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(b[i+2:])
				if !ok || 0xD800 <= r && r <= 0xDFFF {
					return 0, 0, false, false
				}
				i += 6
			default:
				return 0, 0, false, false
			}
		case c < 0x20:
			return 0, 0, false, false
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, false, false
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
		// The lowest flagged byte is the first that is '"', '\', a
		// control character or not ASCII (flags above it may be false).
		q, bs := x^(ones*'"'), x^(ones*'\\')
		m := (q-ones)&^q | (bs-ones)&^bs | (x-ones*0x20)&^x | x
		if m &= highs; m != 0 {
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

// number reads the number at i. simple reports one without an exponent
// shorter than 300 bytes.
func (s *scanner) number() (start, end int, simple, ok bool) {
	b := s.b
	i := s.i
	start = i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return 0, 0, false, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return 0, 0, false, false
	}
	if i < len(b) && b[i] == '.' {
		d := digits(b, i+1)
		if d == i+1 {
			return 0, 0, false, false
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
			return 0, 0, false, false
		}
		i = d
	}
	s.i = i
	return start, i, !exp && i-start < 300, true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func isNumberStart(c byte) bool { return c == '-' || '0' <= c && c <= '9' }

// text is b[start:end] as a string aliasing b.
func (s *scanner) text(start, end int) string {
	if start == end {
		return ""
	}
	return unsafe.String(&s.b[start], end-start)
}

// peek is the byte at i, 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end reports that only whitespace follows.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}
