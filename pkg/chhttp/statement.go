package chhttp

import (
	"bytes"
	"strings"
)

// commentEnd closes a /* comment. The scanner searches its text in place:
// a copy of the rest of the text per comment or heredoc made a text of many
// of them cost its length squared (FuzzStatement stalled on them).
var commentEnd = []byte("*/")

// Statement kinds, used as the "kind" metric label.
const (
	kindSelect = "select" // produces rows: SELECT, WITH, SHOW, DESCRIBE, EXISTS, EXPLAIN, CHECK
	kindInsert = "insert" // INSERT with data (FORMAT or VALUES) streamed to the engine
	kindDDL    = "ddl"    // CREATE, DROP, ALTER, RENAME, TRUNCATE, OPTIMIZE, ...
	kindOther  = "other"  // SET, USE, SYSTEM, INSERT ... SELECT, ...
	kindHello  = "hello"  // clickhouse-go's server-info query, answered by the endpoint
)

// statement is what the endpoint needs to know about one SQL statement; the
// engine does the real parsing.
type statement struct {
	kind string
	// format is the name in a trailing top-level FORMAT clause ("" if none).
	format string
	// For kindInsert: sql is the statement without its FORMAT/VALUES clause
	// and data starts at dataOffset of the scanned text.
	sql        string
	dataOffset int
}

// scanStatement classifies text, which holds a statement possibly followed
// (for INSERT) by inline data, or only the beginning of a long request. An
// INSERT whose data clause is not in text is reported with dataOffset -1.
func scanStatement(text []byte) statement {
	sc := scanner{src: text}
	first := ""
	for {
		t := sc.next()
		if t.kind == tokEOF {
			return statement{kind: kindOther, dataOffset: -1}
		}
		if t.kind == tokWord {
			first = strings.ToUpper(t.text(text))
			break
		}
		if t.kind != tokPunct || text[t.start] != '(' {
			return statement{kind: kindOther, dataOffset: -1}
		}
	}
	switch first {
	case "INSERT":
		return scanInsert(&sc, text)
	case "SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN", "CHECK":
		return statement{kind: kindSelect, format: trailingFormat(&sc, text), dataOffset: -1}
	case "CREATE", "DROP", "ALTER", "RENAME", "TRUNCATE", "OPTIMIZE", "ATTACH", "DETACH", "EXCHANGE", "UNDROP":
		return statement{kind: kindDDL, format: trailingFormat(&sc, text), dataOffset: -1}
	default:
		return statement{kind: kindOther, format: trailingFormat(&sc, text), dataOffset: -1}
	}
}

// scanInsert finds the FORMAT <name> or VALUES clause of an INSERT at depth 0.
// It stops there: what follows is data, not SQL.
func scanInsert(sc *scanner, text []byte) statement {
	depth := 0
	for {
		t := sc.nextTopWord(text, &depth)
		if t.kind == tokEOF {
			// INSERT without a data clause in the text seen so far.
			return statement{kind: kindInsert, dataOffset: -1}
		}
		switch strings.ToUpper(t.text(text)) {
		case "SELECT", "WITH":
			// INSERT ... SELECT: no client data, an ordinary statement.
			return statement{kind: kindOther, format: trailingFormat(sc, text), dataOffset: -1}
		case "VALUES":
			return statement{kind: kindInsert, format: "Values", sql: string(text[:t.start]), dataOffset: t.end}
		case "FORMAT":
			name := sc.next()
			if name.kind != tokWord {
				return statement{kind: kindInsert, dataOffset: -1}
			}
			return statement{
				kind:       kindInsert,
				format:     name.text(text),
				sql:        string(text[:t.start]),
				dataOffset: dataStart(text, name.end),
			}
		}
	}
}

// nextTopWord returns the next word outside parentheses, or the end of the
// text, counting the parentheses it passes in *depth.
func (sc *scanner) nextTopWord(text []byte, depth *int) token {
	for {
		t := sc.next()
		switch {
		case t.kind == tokEOF:
			return t
		case t.kind == tokPunct && text[t.start] == '(':
			*depth++
		case t.kind == tokPunct && text[t.start] == ')':
			*depth--
		case t.kind == tokWord && *depth == 0:
			return t
		}
	}
}

// dataStart skips the blanks after a FORMAT name and at most one newline,
// like ClickHouse: data starts after the first newline, if there is one.
func dataStart(text []byte, i int) int {
	for i < len(text) {
		switch text[i] {
		case ' ', '\t', '\r':
			i++
		case '\n':
			return i + 1
		default:
			return i
		}
	}
	return i
}

// trailingFormat returns the name of a top-level FORMAT clause that ends the
// statement (optionally followed by SETTINGS ... and a semicolon).
func trailingFormat(sc *scanner, text []byte) string {
	depth := 0
	format := ""
	for {
		t := sc.nextTopWord(text, &depth)
		if t.kind == tokEOF {
			return format
		}
		if strings.EqualFold(t.text(text), "FORMAT") {
			save := sc.pos
			name := sc.next()
			after := sc.next()
			if name.kind == tokWord && (after.kind == tokEOF ||
				after.kind == tokPunct && text[after.start] == ';' ||
				after.kind == tokWord && strings.EqualFold(after.text(text), "SETTINGS")) {
				format = name.text(text)
			}
			sc.pos = save
		}
	}
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokString // '...', "..." or `...`
	tokNumber
	tokPunct
)

type token struct {
	kind       tokKind
	start, end int
}

func (t token) text(src []byte) string { return string(src[t.start:t.end]) }

// scanner is a minimal ClickHouse SQL lexer: words, quoted strings and
// identifiers, comments and single-byte punctuation.
type scanner struct {
	src []byte
	pos int
	// unclosed counts the $tag$ openers without a closing tag: each such
	// search reads the rest of the text, so after maxUnclosedHeredocs of
	// them a $ opens nothing, keeping a scan linear in the text's length.
	unclosed int
}

// maxUnclosedHeredocs bounds the failed heredoc searches of one scan.
const maxUnclosedHeredocs = 64

func (s *scanner) next() token {
	src := s.src
	for s.pos < len(src) {
		c := src[s.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			s.pos++
		case c == '-' && s.pos+1 < len(src) && src[s.pos+1] == '-', c == '#':
			for s.pos < len(src) && src[s.pos] != '\n' {
				s.pos++
			}
		case c == '/' && s.pos+1 < len(src) && src[s.pos+1] == '*':
			end := bytes.Index(src[s.pos+2:], commentEnd)
			if end < 0 {
				s.pos = len(src)
			} else {
				s.pos += 2 + end + 2
			}
		case c == '$':
			// A heredoc string: $$...$$ or $tag$...$tag$.
			start := s.pos
			if s.unclosed < maxUnclosedHeredocs {
				switch end := heredocEnd(src, s.pos); {
				case end > 0:
					s.pos = end
					return token{kind: tokString, start: start, end: s.pos}
				case end < 0:
					s.unclosed++
				}
			}
			s.pos++
			return token{kind: tokPunct, start: start, end: s.pos}
		case c == '\'' || c == '"' || c == '`':
			start := s.pos
			s.pos++
			for s.pos < len(src) {
				d := src[s.pos]
				if d == '\\' {
					s.pos += 2
					continue
				}
				s.pos++
				if d == c {
					if s.pos < len(src) && src[s.pos] == c { // doubled quote
						s.pos++
						continue
					}
					break
				}
			}
			s.pos = min(s.pos, len(src))
			return token{kind: tokString, start: start, end: s.pos}
		case isWordStart(c):
			start := s.pos
			for s.pos < len(src) && isWordByte(src[s.pos]) {
				s.pos++
			}
			return token{kind: tokWord, start: start, end: s.pos}
		case c >= '0' && c <= '9':
			start := s.pos
			for s.pos < len(src) && (isWordByte(src[s.pos]) || src[s.pos] == '.') {
				s.pos++
			}
			return token{kind: tokNumber, start: start, end: s.pos}
		default:
			s.pos++
			return token{kind: tokPunct, start: s.pos - 1, end: s.pos}
		}
	}
	return token{kind: tokEOF, start: len(src), end: len(src)}
}

func isWordStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isWordByte(c byte) bool { return isWordStart(c) || c >= '0' && c <= '9' }

// isHello reports whether sql is clickhouse-go's server-info query.
func isHello(sql string) bool {
	norm := strings.Join(strings.Fields(strings.ToLower(sql)), " ")
	norm = strings.TrimSpace(strings.TrimSuffix(norm, ";"))
	return norm == "select displayname(), version(), revision(), timezone()"
}

// heredocEnd returns the end of the heredoc string opening at src[i]
// ($tag$...$tag$, the tag possibly empty), 0 when src[i] opens none, or
// -1 when the tag is never closed (then it is no heredoc either).
func heredocEnd(src []byte, i int) int {
	j := i + 1
	for j < len(src) && isWordByte(src[j]) {
		j++
	}
	if j >= len(src) || src[j] != '$' {
		return 0
	}
	delim := src[i : j+1]
	end := bytes.Index(src[j+1:], delim)
	if end < 0 {
		return -1 // unclosed: no heredoc, as ClickHouse's lexer sees it ({$x$:String} is a parameter)
	}
	return j + 1 + end + len(delim)
}

// words returns the first n words of text (upper-cased), skipping comments
// and opening parentheses.
func words(text []byte, n int) []string {
	sc := scanner{src: text}
	var out []string
	for len(out) < n {
		t := sc.next()
		switch {
		case t.kind == tokEOF:
			return out
		case t.kind == tokWord:
			out = append(out, strings.ToUpper(t.text(text)))
		case t.kind == tokPunct && text[t.start] == '(' && len(out) == 0:
		default:
			return out
		}
	}
	return out
}

// verb is the statement's first keyword, upper-cased ("" when none).
func verb(text []byte) string {
	if w := words(text, 1); len(w) == 1 {
		return w[0]
	}
	return ""
}

// streams reports a statement the engine can stream: a SELECT query
// (SELECT, WITH ... SELECT, parenthesized, UNION ...).
func streams(text []byte) bool {
	if v := verb(text); v == "SELECT" || v == "WITH" {
		return true
	}
	sc := scanner{src: text}
	t := sc.next()
	return t.kind == tokPunct && text[t.start] == '('
}

// createsTemporary reports CREATE [OR REPLACE] TEMPORARY ...
func createsTemporary(text []byte) bool {
	w := words(text, 4)
	if len(w) >= 3 && w[0] == "CREATE" && w[1] == "OR" && w[2] == "REPLACE" {
		w = append(w[:1], w[3:]...)
	}
	return len(w) >= 2 && w[0] == "CREATE" && w[1] == "TEMPORARY"
}

// multiStatementAt returns the offset of the first top-level semicolon that
// another statement follows, or -1: "SELECT 1;" is one statement,
// "SELECT 1; SELECT 2" two.
func multiStatementAt(text []byte) int {
	sc := scanner{src: text}
	depth, semi := 0, -1
	for {
		t := sc.next()
		if t.kind == tokEOF {
			return -1
		}
		if semi >= 0 && !(t.kind == tokPunct && text[t.start] == ';') {
			return semi
		}
		if t.kind != tokPunct {
			continue
		}
		switch text[t.start] {
		case '(':
			depth++
		case ')':
			depth--
		case ';':
			if depth <= 0 && semi < 0 {
				semi = t.start
			}
		}
	}
}

// parseSet reads SET name = value [, name = value ...] into the settings'
// SQL literals. It reports false for any other statement, and for SET ROLE,
// SET DEFAULT ROLE, SET TRANSACTION SNAPSHOT and the like, which change no
// setting.
func parseSet(text []byte) (map[string]string, bool) {
	sc := scanner{src: text}
	if t := sc.next(); t.kind != tokWord || !strings.EqualFold(t.text(text), "SET") {
		return nil, false
	}
	out := map[string]string{}
	for {
		name := sc.next()
		if name.kind != tokWord {
			return nil, false
		}
		if eq := sc.next(); eq.kind != tokPunct || text[eq.start] != '=' {
			return nil, false
		}
		start, end, depth := -1, -1, 0
		for {
			save := sc.pos
			t := sc.next()
			if t.kind == tokEOF || depth == 0 && t.kind == tokPunct && (text[t.start] == ',' || text[t.start] == ';') {
				sc.pos = save
				break
			}
			if t.kind == tokPunct {
				switch text[t.start] {
				case '(', '[', '{':
					depth++
				case ')', ']', '}':
					depth--
				}
			}
			if start < 0 {
				start = t.start
			}
			end = t.end
		}
		if start < 0 {
			return nil, false
		}
		out[name.text(text)] = string(text[start:end])
		t := sc.next()
		switch {
		case t.kind == tokEOF:
			return out, true
		case text[t.start] == ';':
			if sc.next().kind != tokEOF {
				return nil, false
			}
			return out, true
		case text[t.start] == ',':
		default:
			return nil, false
		}
	}
}
