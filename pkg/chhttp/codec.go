package chhttp

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	chcompress "github.com/ClickHouse/ch-go/compress"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// errBodyTooLarge is returned by limitReader past its limit.
var errBodyTooLarge = errors.New("request body too large")

// limitReader fails with errBodyTooLarge once more than n bytes were read,
// so a decompression bomb stops at the limit instead of exhausting memory.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errBodyTooLarge
	}
	return n, err
}

// decodeBody undoes the request's Content-Encoding and, with decompress=1,
// ClickHouse's own compressed-block framing (what clickhouse-go sends with
// LZ4/ZSTD compression). The returned closer releases decoder resources.
func decodeBody(body io.Reader, contentEncoding string, chFramed bool) (io.Reader, func(), error) {
	r := body
	closers := []func(){}
	done := func() {
		for _, c := range closers {
			c()
		}
	}
	for _, enc := range splitEncodings(contentEncoding) {
		next, closer, err := newDecoder(r, enc)
		if err != nil {
			done()
			return nil, nil, err
		}
		if closer != nil {
			closers = append(closers, closer)
		}
		r = next
	}
	if chFramed {
		r = eofReader{chcompress.NewReader(r)}
	}
	return r, done, nil
}

// newDecoder undoes one Content-Encoding over r; closer, nil when there is
// none, releases the decoder's resources.
func newDecoder(r io.Reader, enc string) (_ io.Reader, closer func(), _ error) {
	switch enc {
	case "", "identity":
		return r, nil, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip body: %w", err)
		}
		return zr, func() { _ = zr.Close() }, nil
	case "deflate":
		// HTTP "deflate" is the zlib format; accept raw deflate too.
		br := newPeekReader(r)
		if head, _ := br.peek(2); len(head) == 2 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 && head[0]&0x0f == 8 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, nil, fmt.Errorf("deflate body: %w", err)
			}
			return zr, func() { _ = zr.Close() }, nil
		}
		fr := flate.NewReader(br)
		return fr, func() { _ = fr.Close() }, nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd body: %w", err)
		}
		return zr, zr.Close, nil
	case "lz4":
		return lz4.NewReader(r), nil, nil
	case "br":
		return brotli.NewReader(r), nil, nil
	}
	return nil, nil, &httpError{status: http.StatusUnsupportedMediaType, code: codeUnknownCompression,
		msg: fmt.Sprintf("DB::Exception: Unknown Content-Encoding of HTTP request: %s. (UNKNOWN_COMPRESSION_METHOD)", enc)}
}

func splitEncodings(h string) []string {
	var out []string
	for _, p := range strings.Split(h, ",") {
		out = append(out, strings.ToLower(strings.TrimSpace(p)))
	}
	return out
}

// peekReader lets decodeBody look at a stream's first bytes.
type peekReader struct {
	r   io.Reader
	buf []byte
}

func newPeekReader(r io.Reader) *peekReader { return &peekReader{r: r} }

func (p *peekReader) peek(n int) ([]byte, error) {
	for len(p.buf) < n {
		b := make([]byte, n-len(p.buf))
		m, err := p.r.Read(b)
		p.buf = append(p.buf, b[:m]...)
		if err != nil {
			return p.buf, err
		}
	}
	return p.buf[:n], nil
}

func (p *peekReader) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// chooseEncoding picks the response Content-Encoding from Accept-Encoding
// (only when the client set enable_http_compression=1, as ClickHouse does).
func chooseEncoding(accept string) string {
	best := ""
	rank := map[string]int{"zstd": 5, "gzip": 4, "br": 3, "deflate": 2, "lz4": 1}
	for _, part := range strings.Split(accept, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") && !strings.Contains(params, "q=0.") {
			continue
		}
		if rank[name] > rank[best] {
			best = name
		}
	}
	return best
}

// encodeBody compresses data with a Content-Encoding from chooseEncoding.
func encodeBody(data []byte, enc string, level int) ([]byte, error) {
	var buf bytes.Buffer
	w, err := newStreamEncoder(&buf, enc, level)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newStreamEncoder returns a writer compressing into w with a
// Content-Encoding from chooseEncoding.
func newStreamEncoder(w io.Writer, enc string, level int) (streamEncoder, error) {
	switch enc {
	case "gzip":
		if level <= 0 {
			level = gzip.DefaultCompression
		}
		return gzip.NewWriterLevel(w, min(level, gzip.BestCompression))
	case "deflate":
		if level <= 0 {
			level = zlib.DefaultCompression
		}
		return zlib.NewWriterLevel(w, min(level, zlib.BestCompression))
	case "zstd":
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
	case "br":
		return brotli.NewWriterLevel(w, brotli.DefaultCompression), nil
	case "lz4":
		return lz4.NewWriter(w), nil
	default:
		return nil, fmt.Errorf("unknown content encoding %q", enc)
	}
}

// chFrameSize is the uncompressed size of one ClickHouse compressed block
// (max_compress_block_size).
const chFrameSize = 1 << 20

// encodeCHFramed wraps data in ClickHouse compressed blocks (compress=1).
func encodeCHFramed(data []byte, method string) ([]byte, error) {
	m := chcompress.LZ4
	switch strings.ToUpper(method) {
	case "", "LZ4":
	case "LZ4HC":
		m = chcompress.LZ4HC
	case "ZSTD":
		m = chcompress.ZSTD
	case "NONE":
		m = chcompress.None
	default:
		return nil, &httpError{status: http.StatusBadRequest, code: codeUnknownCompression,
			msg: fmt.Sprintf("DB::Exception: Unknown compression method: %s. (UNKNOWN_COMPRESSION_METHOD)", method)}
	}
	w := chcompress.NewWriter(chcompress.LevelZero, m)
	out := make([]byte, 0, len(data)/2+64)
	for off := 0; off < len(data); off += chFrameSize {
		if err := w.Compress(data[off:min(off+chFrameSize, len(data))]); err != nil {
			return nil, fmt.Errorf("compress response block: %w", err)
		}
		out = append(out, w.Data...)
	}
	return out, nil
}

// eofReader reports the end of a ClickHouse-framed stream as a bare io.EOF
// (ch-go wraps it).
type eofReader struct{ r io.Reader }

func (e eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && errors.Is(err, io.EOF) {
		err = io.EOF
	}
	return n, err
}
