package chhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/serviceping/serviceping/pkg/chdb"
)

// externalTable is a table sent along with a request's statement, as
// ClickHouse's external data: a file part of a multipart/form-data body,
// named by the part's form name, with its columns in <name>_structure
// ("id UInt32, name String") or <name>_types ("UInt32,String", columns _1,
// _2, …) and its format in <name>_format (default TabSeparated).
type externalTable struct {
	name      string
	structure string
	format    string
	data      *os.File // the part's content, spooled; gone when closed
}

// multipartBoundary is the boundary of a multipart/form-data body, "" for
// any other body.
func multipartBoundary(r *http.Request) string {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		return ""
	}
	return params["boundary"]
}

// readMultipart reads a multipart/form-data body. Its fields join the
// request's parameters (query, param_<name>, settings); its files — parts
// whose Content-Disposition has a filename, even an empty one, as
// clickhouse-go sends them — become external tables, spooled to TempDir,
// since the statement may follow them in the body. A field is bounded by
// MaxQueryBytes, the whole body by MaxBodyBytes.
func (h *Handler) readMultipart(req *request, body io.Reader, boundary string) error {
	mr := multipart.NewReader(body, boundary)
	fields := 0
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return badMultipart(err)
		}
		_, disp, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		name := disp["name"]
		if err != nil || name == "" {
			return badMultipart(fmt.Errorf("a part without a form name (%q)", part.Header.Get("Content-Disposition")))
		}
		if _, file := disp["filename"]; !file {
			v, err := io.ReadAll(io.LimitReader(part, int64(h.opts.MaxQueryBytes-fields)+1))
			if err != nil {
				return err
			}
			if fields += len(v); fields > h.opts.MaxQueryBytes {
				return badMultipart(fmt.Errorf("its fields exceed %d bytes", h.opts.MaxQueryBytes))
			}
			req.params.Add(name, string(v))
			continue
		}
		f, err := os.CreateTemp(h.opts.TempDir, "chhttp-external-*")
		if err != nil {
			return fmt.Errorf("spool external table %s: %w", name, err)
		}
		_ = os.Remove(f.Name()) // gone with the handle
		req.tables = append(req.tables, &externalTable{name: name, format: "TabSeparated", data: f})
		if _, err := io.Copy(f, part); err != nil {
			return fmt.Errorf("spool external table %s: %w", name, err)
		}
	}
	req.classify()
	return nil
}

func badMultipart(err error) error {
	return &httpError{status: http.StatusBadRequest, code: codeCannotReadBody, msg: "DB::Exception: Cannot parse multipart/form-data body: " + err.Error() + ". (STD_EXCEPTION)"}
}

// describeExternal gives each external table its columns and format from
// the request's parameters, which are then no settings. Parameters that
// describe a table the body does not send are refused, clearly.
func (req *request) describeExternal(info *serverInfo) error {
	for _, t := range req.tables {
		structure, types := req.settings[t.name+"_structure"], req.settings[t.name+"_types"]
		if f := req.settings[t.name+"_format"]; f != "" {
			t.format = f
		}
		for _, suffix := range []string{"_structure", "_types", "_format"} {
			delete(req.settings, t.name+suffix)
		}
		switch {
		case structure != "":
			t.structure = structure
		case types != "":
			cols := splitTopLevel(types)
			for i, typ := range cols {
				cols[i] = fmt.Sprintf("_%d %s", i+1, strings.TrimSpace(typ))
			}
			t.structure = strings.Join(cols, ", ")
		default:
			return &httpError{status: http.StatusBadRequest, code: codeBadArguments,
				msg: fmt.Sprintf("DB::Exception: Neither structure nor types have been provided for external table %s. Use fields %[1]s_structure or %[1]s_types to do so. (BAD_ARGUMENTS)", t.name)}
		}
	}
	for k := range req.settings {
		for _, suffix := range []string{"_structure", "_types"} {
			if name, ok := strings.CutSuffix(k, suffix); ok && name != "" && !info.settings[k] {
				return &httpError{status: http.StatusBadRequest, code: codeBadArguments,
					msg: fmt.Sprintf("DB::Exception: %s describes an external table %s, but the request sends no file %[2]s: send the table as a file part of a multipart/form-data body. (BAD_ARGUMENTS)", k, name)}
			}
		}
	}
	return nil
}

// splitTopLevel splits a list of types at the commas outside parentheses
// and quotes: "Decimal(9, 2),String" is two types.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// closeExternal removes the spooled tables.
func (req *request) closeExternal() {
	for _, t := range req.tables {
		_ = t.data.Close()
	}
}

// detachTimeout bounds dropping a request's external tables, which happens
// also when the request's own context has ended.
const detachTimeout = 10 * time.Second

// attachExternal creates the request's external tables as temporary tables
// of the lease's connection — the statement's settings apply to reading
// them — and drops them when the lease is released, before the connection
// serves anyone else. A connection whose tables cannot be dropped is closed
// instead of being pooled again.
func (h *Handler) attachExternal(ctx context.Context, l *lease, req *request, base chdb.Request) error {
	var created []string
	l.beforeRelease(func() {
		if len(created) == 0 {
			return
		}
		dctx, cancel := context.WithTimeout(context.Background(), detachTimeout)
		defer cancel()
		for _, name := range created {
			drop := chdb.Request{SQL: "DROP TEMPORARY TABLE IF EXISTS " + backQuoteIfNeed(name)}
			if _, err := l.conn.Exec(dctx, drop); err != nil {
				h.log.Warn("drop an external table", "table", name, "err", err)
				l.broken = true
				return
			}
		}
	})
	for _, t := range req.tables {
		ddl := base
		ddl.SQL = "CREATE TEMPORARY TABLE " + backQuoteIfNeed(t.name) + " (" + t.structure + ") ENGINE = Memory"
		ddl.Format = ""
		if _, err := l.conn.Exec(ctx, ddl); err != nil {
			return err
		}
		created = append(created, t.name)
		size, err := t.data.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = t.data.Seek(0, io.SeekStart)
		}
		if err != nil {
			return fmt.Errorf("read external table %s: %w", t.name, err)
		}
		if size == 0 {
			continue // an empty table
		}
		ins := base
		ins.SQL, ins.Format = "INSERT INTO "+backQuoteIfNeed(t.name), t.format
		if _, err := l.conn.Insert(ctx, ins, t.data); err != nil {
			return err
		}
	}
	return nil
}
