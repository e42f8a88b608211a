package chhttp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// User is a user of the endpoint (Options.Users).
type User struct {
	Name     string
	Password string
	// ReadOnly users run every statement under ClickHouse's readonly=1:
	// SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN and USE only, no table
	// function that reaches files or the network, no setting changed (a SET
	// or a request setting equal to the current value passes).
	ReadOnly bool
}

// ClickHouse error codes of authentication and readonly mode.
const (
	codeReadonly             = 164
	codeAuthenticationFailed = 516
)

// readonly levels, ClickHouse's readonly setting: 0 writes allowed,
// 1 reads only and no setting changes, 2 reads and setting changes.
const (
	readWrite     = 0
	readOnly      = 1
	readOnlyByGET = 2
)

// authenticate finds the request's user the way ClickHouse reads
// credentials — HTTP basic authentication, the X-ClickHouse-User and
// X-ClickHouse-Key headers, or the user and password URL parameters, one
// way only; the user "default" with an empty password when none is given —
// and sets the request's user and readonly level. Without Options.Users
// every name and password is accepted, with write access.
//
// A GET (or HEAD) request is read-only as in ClickHouse: its statements
// run under readonly=2, so they may change settings but write nothing.
func (h *Handler) authenticate(req *request, r *http.Request) error {
	name, password, err := credentials(r)
	if err != nil {
		return err
	}
	req.user = name
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		req.readonly = readOnlyByGET
	}
	if len(h.opts.Users) == 0 {
		return nil
	}
	// Every configured user is compared, in constant time, so that neither
	// the names nor the passwords show in the answer's timing.
	var found *User
	given := sha256.Sum256([]byte(password))
	for i := range h.opts.Users {
		u := &h.opts.Users[i]
		want := sha256.Sum256([]byte(u.Password))
		nameOK := subtle.ConstantTimeCompare([]byte(u.Name), []byte(name))
		if subtle.ConstantTimeCompare(want[:], given[:])&nameOK == 1 {
			found = u
		}
	}
	if found == nil {
		return &httpError{status: http.StatusForbidden, code: codeAuthenticationFailed,
			msg: fmt.Sprintf("DB::Exception: %s: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)", name)}
	}
	if found.ReadOnly {
		req.readonly = readOnly
	}
	return nil
}

// credentials reads the user and password a request carries.
func credentials(r *http.Request) (user, password string, err error) {
	q := r.URL.Query()
	inParams := q.Has("user") || q.Has("password")
	inHeaders := r.Header.Get("X-ClickHouse-User") != "" || r.Header.Get("X-ClickHouse-Key") != ""
	authz := r.Header.Get("Authorization")
	switch {
	case authz != "" && (inParams || inHeaders):
		return "", "", authFailed("Invalid authentication: it is not allowed to use Authorization HTTP header and authentication via parameters simultaneously")
	case inHeaders && inParams:
		return "", "", authFailed("Invalid authentication: it is not allowed to use X-ClickHouse HTTP headers and other authentication methods simultaneously")
	case authz != "":
		scheme, value, _ := strings.Cut(authz, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return "", "", authFailed("Invalid authentication: unsupported authentication scheme " + clip(scheme, 20))
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil {
			return "", "", authFailed("Invalid authentication: the Basic credentials are not base64")
		}
		user, password, _ = strings.Cut(string(raw), ":")
	case inHeaders:
		user, password = r.Header.Get("X-ClickHouse-User"), r.Header.Get("X-ClickHouse-Key")
	default:
		user, password = q.Get("user"), q.Get("password")
	}
	if user == "" {
		user = "default"
	}
	return user, password, nil
}

func authFailed(msg string) *httpError {
	return &httpError{status: http.StatusForbidden, code: codeAuthenticationFailed,
		msg: "DB::Exception: " + msg + ". (AUTHENTICATION_FAILED)"}
}

// errReadonlyGET is a writing statement sent with GET.
var errReadonlyGET = &httpError{status: http.StatusForbidden, code: codeReadonly,
	msg: "DB::Exception: Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries. (READONLY)"}

// checkReadonly refuses, before anything runs, a statement its request's
// readonly level does not allow: data to insert under any level, and under
// readonly=1 anything but a SELECT-like statement, SET and USE. The engine
// enforces the level itself while the statement runs (chdb.Request's
// ReadOnly); what it would let through — an assignment of DEFAULT, which
// resets readonly too, and a settings profile — is refused here.
func checkReadonly(req *request, st statement, text []byte) error {
	if req.readonly == readWrite {
		return nil
	}
	refused := &httpError{status: http.StatusForbidden, code: codeReadonly,
		msg: fmt.Sprintf("DB::Exception: %s: Cannot execute query in readonly mode. (READONLY)", req.user)}
	if req.readonly == readOnlyByGET {
		refused = errReadonlyGET
	}
	if _, ok := req.settings["profile"]; ok {
		return refused
	}
	if st.kind == kindInsert {
		return refused
	}
	if req.readonly == readOnly {
		switch verb(text) {
		case "SET", "USE":
		default:
			if st.kind != kindSelect {
				return refused
			}
		}
	}
	if escapesReadonly(text, req.readonly == readOnly) {
		return &httpError{status: http.StatusForbidden, code: codeReadonly,
			msg: "DB::Exception: Cannot modify settings to their defaults or change the settings profile in readonly mode. (READONLY)"}
	}
	return nil
}

// escapesReadonly reports text that assigns DEFAULT to readonly (to any
// setting when anySetting) or sets a settings profile, outside strings and
// comments.
func escapesReadonly(text []byte, anySetting bool) bool {
	sc := scanner{src: text}
	var prev [2]token
	for {
		t := sc.next()
		if t.kind == tokEOF {
			return false
		}
		if prev[1].kind == tokPunct && text[prev[1].start] == '=' && prev[0].kind == tokWord {
			name := strings.ToLower(prev[0].text(text))
			if name == "profile" {
				return true
			}
			if t.kind == tokWord && strings.EqualFold(t.text(text), "DEFAULT") && (anySetting || name == "readonly") {
				return true
			}
		}
		prev[0], prev[1] = prev[1], t
	}
}

// errNoUser is returned by Options validation: a user without a name.
var errNoUser = errors.New("chhttp: a user has no name")

// checkUsers validates Options.Users.
func checkUsers(users []User) error {
	seen := map[string]bool{}
	for _, u := range users {
		if u.Name == "" {
			return errNoUser
		}
		if seen[u.Name] {
			return fmt.Errorf("chhttp: user %q is given twice", u.Name)
		}
		seen[u.Name] = true
	}
	return nil
}
