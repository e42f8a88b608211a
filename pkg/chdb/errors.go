package chdb

import (
	"regexp"
	"strconv"
	"strings"
)

// Error is an exception raised by the engine, with ClickHouse's error code
// (e.g. 62 SYNTAX_ERROR, 60 UNKNOWN_TABLE). Code is 0 when the message did
// not carry one.
type Error struct {
	Code    int
	Message string // the text after "Code: N. ", e.g. "DB::Exception: ..."
}

func (e *Error) Error() string {
	if e.Code == 0 {
		return "chdb: " + e.Message
	}
	return "Code: " + strconv.Itoa(e.Code) + ". " + e.Message
}

var codeRe = regexp.MustCompile(`Code:\s*(\d+)\.\s*`)

// parseError turns an engine error text into an *Error.
func parseError(msg string) *Error {
	msg = strings.TrimSpace(msg)
	if m := codeRe.FindStringSubmatchIndex(msg); m != nil {
		code, err := strconv.Atoi(msg[m[2]:m[3]])
		if err == nil {
			return &Error{Code: code, Message: strings.TrimSpace(msg[m[1]:])}
		}
	}
	return &Error{Message: msg}
}
