package chhttp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/serviceping/serviceping/pkg/chdb"
)

// response writes one statement's output the way ClickHouse does. By
// default each block is sent as the engine produces it: the response starts
// (status 200, chunked) with the first one, and an error after that is
// appended as an exception block; an error before it gets its own status. A
// request whose buffer_size (or http_response_buffer_size) exceeds 1 MiB
// has that much held first: a result that fits goes out whole, with
// Content-Length and a complete summary. wait_end_of_query=1 holds
// everything, in memory up to Options.MaxHeldBytes and in a temporary file
// beyond.
type response struct {
	h      *Handler
	w      http.ResponseWriter
	r      *http.Request
	req    *request // nil when the request did not parse
	format string   // output format ("" for none)

	held    []byte
	spill   *os.File // wait_end_of_query output beyond MaxHeldBytes
	size    int      // bytes of output so far
	started bool
	enc     *encoder
	tag     string // exception tag announced in X-ClickHouse-Exception-Tag
	werr    error  // the client went away
}

// httpBufferBytes is the size of ClickHouse's own HTTP output buffer, which
// its output formats flush after every block.
const httpBufferBytes = 1 << 20

// holdLimit is how much output is held before the response starts; -1
// holds everything. As in ClickHouse's HTTP handler, a buffer_size (else
// http_response_buffer_size) above its 1 MiB output buffer is held in
// memory, and anything smaller holds nothing.
func (o *response) holdLimit() int {
	p := o.req.params
	if p.Get("wait_end_of_query") == "1" {
		return -1
	}
	for _, k := range []string{"buffer_size", "http_response_buffer_size"} {
		if n, err := strconv.Atoi(p.Get(k)); err == nil && n >= 0 {
			if n > httpBufferBytes {
				return n
			}
			return 0
		}
	}
	return 0
}

// write adds output; stats are the statement's statistics so far.
func (o *response) write(p []byte, stats chdb.Result) error {
	if o.werr != nil {
		return o.werr
	}
	o.size += len(p)
	if o.started {
		return o.send(p)
	}
	limit := o.holdLimit()
	if limit >= 0 && len(o.held)+len(p) > limit {
		o.start(&stats)
		if err := o.send(o.held); err != nil {
			return err
		}
		o.held = nil
		return o.send(p)
	}
	if limit < 0 && (o.spill != nil || len(o.held)+len(p) > o.h.opts.MaxHeldBytes) {
		return o.spillOut(p)
	}
	o.held = append(o.held, p...)
	return nil
}

func (o *response) spillOut(p []byte) error {
	if o.spill == nil {
		f, err := os.CreateTemp(o.h.opts.TempDir, "chhttp-result-*")
		if err != nil {
			return fmt.Errorf("hold the result: %w", err)
		}
		_ = os.Remove(f.Name()) // gone with the handle
		o.spill = f
		if _, err := f.Write(o.held); err != nil {
			return fmt.Errorf("hold the result: %w", err)
		}
		o.held = nil
	}
	if _, err := o.spill.Write(p); err != nil {
		return fmt.Errorf("hold the result: %w", err)
	}
	return nil
}

// finish ends a successful statement: data is its last output.
func (o *response) finish(data []byte, stats *chdb.Result) error {
	defer o.closeSpill()
	if o.started {
		if err := o.send(data); err != nil {
			return err
		}
		return o.end()
	}
	if o.spill != nil {
		if err := o.spillOut(data); err != nil {
			return err
		}
		o.start(stats)
		if _, err := o.spill.Seek(0, io.SeekStart); err != nil {
			return o.abort(err)
		}
		buf := make([]byte, 1<<20)
		for {
			n, rerr := o.spill.Read(buf)
			if n > 0 {
				if err := o.send(buf[:n]); err != nil {
					return err
				}
			}
			if errors.Is(rerr, io.EOF) {
				return o.end()
			}
			if rerr != nil {
				return o.abort(rerr)
			}
		}
	}
	body := append(o.held, data...)
	o.size = len(body)
	hdr := o.w.Header()
	o.setFormat()
	hdr.Set("X-ClickHouse-Summary", summary(stats, o.size))
	// ClickHouse announces the tag with every result, so that a client
	// trusts no marker without it, even in a result that has no exception.
	hdr.Set("X-ClickHouse-Exception-Tag", exceptionTag())
	var err error
	if len(body) > 0 {
		body, err = o.encodeWhole(body)
		if err != nil {
			hdr.Del("Content-Encoding")
			return err
		}
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	o.w.WriteHeader(http.StatusOK)
	o.started = true
	if o.r.Method != http.MethodHead {
		_, _ = o.w.Write(body)
	}
	return nil
}

func (o *response) closeSpill() {
	if o.spill != nil {
		_ = o.spill.Close()
		o.spill = nil
	}
}

// abort reports an error that ends a started response.
func (o *response) abort(err error) error {
	o.exception(err)
	return nil
}

func (o *response) setFormat() {
	hdr := o.w.Header()
	if o.format != "" {
		hdr.Set("X-ClickHouse-Format", o.format)
		hdr.Set("Content-Type", contentType(o.format))
	} else {
		hdr.Set("Content-Type", "text/plain; charset=UTF-8")
	}
}

// encodeWhole compresses a whole response body as the request asks.
func (o *response) encodeWhole(body []byte) ([]byte, error) {
	p := o.req.params
	switch {
	case p.Get("compress") == "1":
		return encodeCHFramed(body, p.Get("network_compression_method"))
	case p.Get("enable_http_compression") == "1":
		if enc := chooseEncoding(o.r.Header.Get("Accept-Encoding")); enc != "" {
			level, _ := strconv.Atoi(p.Get("http_zlib_compression_level"))
			out, err := encodeBody(body, enc, level)
			o.w.Header().Set("Content-Encoding", enc)
			return out, err
		}
	}
	return body, nil
}

// start sends the status and headers of a streamed response.
func (o *response) start(stats *chdb.Result) {
	hdr := o.w.Header()
	o.setFormat()
	hdr.Set("X-ClickHouse-Summary", summary(stats, o.size))
	o.tag = exceptionTag()
	hdr.Set("X-ClickHouse-Exception-Tag", o.tag)
	hdr.Del("Content-Length")
	p := o.req.params
	o.enc = &encoder{w: o.w, head: o.r.Method == http.MethodHead}
	switch {
	case p.Get("compress") == "1":
		o.enc.framed, o.enc.method = true, p.Get("network_compression_method")
	case p.Get("enable_http_compression") == "1":
		if name := chooseEncoding(o.r.Header.Get("Accept-Encoding")); name != "" {
			level, _ := strconv.Atoi(p.Get("http_zlib_compression_level"))
			if z, err := newStreamEncoder(o.enc.raw(), name, level); err == nil {
				o.enc.z = z
				hdr.Set("Content-Encoding", name)
			}
		}
	}
	o.w.WriteHeader(http.StatusOK)
	o.started = true
}

// send writes output of a started response and flushes it to the client.
func (o *response) send(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if err := o.enc.write(p); err != nil {
		o.werr = fmt.Errorf("send the result: %w", err)
		return o.werr
	}
	return nil
}

// end finishes a started response.
func (o *response) end() error {
	if err := o.enc.close(); err != nil {
		o.werr = fmt.Errorf("send the result: %w", err)
		return o.werr
	}
	return nil
}

// fail reports err: with the status ClickHouse would answer when nothing
// was sent yet, as an exception block appended to the output otherwise.
func (o *response) fail(kind string, err error) {
	o.closeSpill()
	status, code, msg := classify(err)
	o.h.metrics.errors.WithLabelValues(strconv.Itoa(code)).Inc()
	if status >= 500 && code != codeTimeoutExceeded && code != codeQueryWasCancelled && o.r.Context().Err() == nil {
		o.h.log.Warn("clickhouse http request failed", "kind", kind, "code", code, "err", err)
	}
	if o.started {
		o.exception(err)
		return
	}
	hdr := o.w.Header()
	for _, k := range []string{"X-ClickHouse-Format", "X-ClickHouse-Summary", "Content-Encoding", "Content-Length"} {
		hdr.Del(k)
	}
	hdr.Set("X-ClickHouse-Exception-Code", strconv.Itoa(code))
	hdr.Set("Content-Type", "text/plain; charset=UTF-8")
	o.w.WriteHeader(status)
	if o.r.Method != http.MethodHead {
		_, _ = fmt.Fprintf(o.w, "Code: %d. %s\n", code, strings.TrimSpace(msg))
	}
}

// exception appends ClickHouse's exception block to a started response:
//
//	\r\n__exception__\r\n<tag>\r\nCode: N. DB::Exception: ...\n<length> <tag>\r\n__exception__\r\n
//
// through the HTTP compression, if any, so that the client finds it after
// decompressing; past ClickHouse's own compressed blocks (compress=1) it is
// written as is, where clickhouse-go looks for it.
func (o *response) exception(err error) {
	if o.werr != nil {
		return
	}
	_, code, msg := classify(err)
	text := fmt.Sprintf("Code: %d. %s", code, strings.TrimSpace(msg))
	block := "\r\n__exception__\r\n" + o.tag + "\r\n" + text + "\n" + strconv.Itoa(len(text)) + " " + o.tag + "\r\n__exception__\r\n"
	_ = o.enc.writeException([]byte(block))
}

// exceptionTag is a fresh random tag of 16 letters and digits.
func exceptionTag() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [16]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// encoder writes a streamed response body: plain, in ClickHouse's
// compressed blocks (compress=1) or with an HTTP Content-Encoding.
type encoder struct {
	w      http.ResponseWriter
	head   bool
	framed bool
	method string
	z      streamEncoder
}

// streamEncoder is a compressing writer that can flush what it holds.
type streamEncoder interface {
	io.WriteCloser
	Flush() error
}

func (e *encoder) raw() io.Writer { return rawWriter{e} }

type rawWriter struct{ e *encoder }

func (r rawWriter) Write(p []byte) (int, error) {
	if r.e.head {
		return len(p), nil
	}
	return r.e.w.Write(p)
}

func (e *encoder) flush() error {
	return http.NewResponseController(e.w).Flush()
}

func (e *encoder) write(p []byte) error {
	switch {
	case e.framed:
		b, err := encodeCHFramed(p, e.method)
		if err != nil {
			return err
		}
		if _, err := e.raw().Write(b); err != nil {
			return err
		}
	case e.z != nil:
		if _, err := e.z.Write(p); err != nil {
			return err
		}
		if err := e.z.Flush(); err != nil {
			return err
		}
	default:
		if _, err := e.raw().Write(p); err != nil {
			return err
		}
	}
	return e.flush()
}

func (e *encoder) close() error {
	if e.z != nil {
		if err := e.z.Close(); err != nil {
			return err
		}
	}
	return e.flush()
}

func (e *encoder) writeException(block []byte) error {
	if e.z != nil {
		if _, err := e.z.Write(block); err != nil {
			return err
		}
		return e.close()
	}
	if _, err := e.raw().Write(block); err != nil {
		return err
	}
	return e.flush()
}
