package chhttp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
)

// chDB's streaming query API writes every block as a complete output of
// the query's format: a CSVWithNames block starts with the names again, a
// JSON block is a document of its own. So the endpoint streams only the
// formats whose blocks concatenate, drops the repeated header of the
// formats that have one, and runs every other format (JSON, XML, Arrow,
// Parquet, Pretty, Values, …) whole.

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

// streaming tells whether a format's result can be streamed, and the header
// to drop from every block but the first when it repeats one.
func streaming(format string) (ok bool, header headerOf) {
	f := strings.ToLower(format)
	if h := headers[f]; h != nil {
		return true, h
	}
	return streamedFormats[f], nil
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
