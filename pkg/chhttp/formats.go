package chhttp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// chDB's streaming query API writes every block as a complete output of
// the query's format: a CSVWithNames block starts with the names again, a
// JSON block is a document of its own. So the endpoint streams the formats
// whose blocks concatenate as they are, drops the repeated header of the
// formats that have one, joins the data of JSON documents into one, and
// runs every other format (XML, Arrow, Parquet, Pretty, Values, …) whole.

// joiner turns the blocks of a streamed result into one output of its
// format: block returns what to send of a block, end what to send after
// the last one.
type joiner interface {
	block(b []byte, first bool) ([]byte, error)
	end() []byte
}

// streamedFormats are the output formats whose blocks concatenate into the
// format's output of the whole result.
var streamedFormats = map[string]bool{
	"tabseparated": true, "tsv": true, "tabseparatedraw": true, "tsvraw": true, "raw": true,
	"csv": true, "native": true, "rowbinary": true,
	"jsoneachrow": true, "jsonlines": true, "ndjson": true, "jsonstringseachrow": true,
	"jsoncompacteachrow": true, "jsoncompactstringseachrow": true,
	"rawblob": true, "lineasstring": true, "msgpack": true, "null": true,
}

// headerOf returns the length of the header at the start of a block of a
// format that repeats its header in every block.
type headerOf func(block []byte) (int, error)

// headers are the formats whose every block starts with the same header.
var headers = map[string]headerOf{
	"tabseparatedwithnames": lines(1), "tsvwithnames": lines(1),
	"tabseparatedrawwithnames": lines(1), "tsvrawwithnames": lines(1), "rawwithnames": lines(1),
	"tabseparatedwithnamesandtypes": lines(2), "tsvwithnamesandtypes": lines(2),
	"tabseparatedrawwithnamesandtypes": lines(2), "tsvrawwithnamesandtypes": lines(2), "rawwithnamesandtypes": lines(2),
	"jsoncompacteachrowwithnames": lines(1), "jsoncompacteachrowwithnamesandtypes": lines(2),
	"jsoncompactstringseachrowwithnames": lines(1), "jsoncompactstringseachrowwithnamesandtypes": lines(2),
	"csvwithnames": csvLines(1), "csvwithnamesandtypes": csvLines(2),
	"rowbinarywithnames": rowBinaryHeader(1), "rowbinarywithnamesandtypes": rowBinaryHeader(2),
}

// jsonFormats write a document with the rows in its "data" array.
var jsonFormats = map[string]bool{"json": true, "jsonstrings": true, "jsoncompact": true, "jsoncompactstrings": true}

// streaming tells whether the result of sql in format can be streamed, and
// the joiner its blocks need (nil when they concatenate). chDB's streamed
// JSON garbles totals and extremes, so a JSON result that may have them
// (the statement mentions TOTALS, or the request asks for extremes) is run
// whole.
func streaming(format, sql string, settings map[string]string) (ok bool, j joiner) {
	f := strings.ToLower(format)
	switch {
	case headers[f] != nil:
		return true, &headerBlocks{header: headers[f]}
	case jsonFormats[f]:
		if strings.Contains(strings.ToUpper(sql), "TOTALS") || strings.Contains(strings.ToLower(sql), "extremes") || settings["extremes"] == "1" {
			return false, nil
		}
		return true, &jsonBlocks{}
	}
	return streamedFormats[f], nil
}

// headerBlocks sends the header of the first block and drops it from the
// others.
type headerBlocks struct {
	header headerOf
	head   []byte
}

func (h *headerBlocks) block(b []byte, first bool) ([]byte, error) {
	if first {
		n, err := h.header(b)
		if err != nil {
			return nil, err
		}
		h.head = bytes.Clone(b[:n])
		return b, nil
	}
	rest, ok := bytes.CutPrefix(b, h.head)
	if !ok {
		return nil, errors.New("a block does not start with the result's header")
	}
	return rest, nil
}

func (h *headerBlocks) end() []byte { return nil }

// jsonBlocks joins the JSON documents of the blocks: the first one's head
// (meta), the rows of every "data" array, and the last one's tail (totals,
// statistics) with the total number of rows.
type jsonBlocks struct {
	rows  int
	wrote bool
	tail  []byte
}

var (
	jsonDataOpen  = []byte("\"data\":\n\t[\n")
	jsonDataClose = []byte("\n\t]")
	jsonRows      = regexp.MustCompile(`"rows": (\d+)`)
)

func (j *jsonBlocks) block(b []byte, first bool) ([]byte, error) {
	i := bytes.Index(b, jsonDataOpen)
	if i < 0 {
		return nil, errors.New("a block has no data array")
	}
	start := i + len(jsonDataOpen)
	n := bytes.Index(b[start:], jsonDataClose)
	if n < 0 {
		return nil, errors.New("a block's data array does not end")
	}
	end := start + n
	m := jsonRows.FindSubmatch(b[end:])
	if m == nil {
		return nil, errors.New("a block has no row count")
	}
	count, _ := strconv.Atoi(string(m[1]))
	j.rows += count
	j.tail = append(j.tail[:0], b[end:]...)
	var out []byte
	if first {
		out = append(out, b[:start]...)
	}
	if end > start {
		if j.wrote {
			out = append(out, ",\n"...)
		}
		out = append(out, b[start:end]...)
		j.wrote = true
	}
	return out, nil
}

func (j *jsonBlocks) end() []byte {
	done := false
	return jsonRows.ReplaceAllFunc(j.tail, func(m []byte) []byte {
		if done {
			return m
		}
		done = true
		return []byte(`"rows": ` + strconv.Itoa(j.rows))
	})
}

var errNoHeader = errors.New("the block has no complete header")

// lines is a header of n lines whose values escape newlines (TSV, JSON).
func lines(n int) headerOf {
	return func(b []byte) (int, error) {
		at := 0
		for range n {
			i := bytes.IndexByte(b[at:], '\n')
			if i < 0 {
				return 0, errNoHeader
			}
			at += i + 1
		}
		return at, nil
	}
}

// csvLines is a header of n CSV lines, whose quoted names may hold newlines.
func csvLines(n int) headerOf {
	return func(b []byte) (int, error) {
		quoted, left := false, n
		for i, c := range b {
			switch {
			case c == '"':
				quoted = !quoted
			case c == '\n' && !quoted:
				if left--; left == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errNoHeader
	}
}

// rowBinaryHeader is RowBinary's header: the number of columns, then
// perColumn strings (names, and types) for each column.
func rowBinaryHeader(perColumn int) headerOf {
	return func(b []byte) (int, error) {
		cols, at := binary.Uvarint(b)
		if at <= 0 {
			return 0, errNoHeader
		}
		for range cols * uint64(perColumn) {
			l, n := binary.Uvarint(b[at:])
			if n <= 0 || uint64(len(b)-at-n) < l {
				return 0, errNoHeader
			}
			at += n + int(l)
		}
		return at, nil
	}
}
