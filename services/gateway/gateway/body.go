package gateway

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// Error codes answered by the HTTP layer (validation codes live in internal/validate).
const (
	codeTooLarge            = "payload_too_large"
	codeInvalidGzip         = "invalid_gzip"
	codeEmptyBody           = "empty_body"
	codeUnsupportedMedia    = "unsupported_media_type"
	codeUnsupportedEncoding = "unsupported_encoding"
	codeMethodNotAllowed    = "method_not_allowed"
	codeNotFound            = "not_found"
	codeRateLimited         = "rate_limited"
	codeOverloaded          = "overloaded"
	codeUnavailable         = "unavailable"
	codeMissingFile         = "missing_file"
	codeReadFailed          = "read_failed"
)

var gzipMagic = []byte{0x1f, 0x8b}

// buffers recycles request buffers; big ones are left to the GC.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuffer = 1 << 20

func getBuffer() *bytes.Buffer { b := buffers.Get().(*bytes.Buffer); b.Reset(); return b }

func putBuffer(b *bytes.Buffer) {
	if b != nil && b.Cap() <= maxPooledBuffer {
		buffers.Put(b)
	}
}

var gzipReaders sync.Pool // of *gzip.Reader

// Room a body keeps around its data in its buffer, for pingEnvelope to
// write the envelope's other fields without copying the payload: the
// headroom in front of the data, the tailroom behind it (unless the body
// was gunzipped; what does not fit is appended all the same).
const (
	headroom = 512
	tailroom = 2048
)

var blankHeadroom [headroom]byte

// body is a request body held in pooled buffers until release.
type body struct {
	data []byte
	// framed is data with the headroom in front of it: data is
	// framed[headroom:], in the same array.
	framed  []byte
	wireLen int
	bufs    [2]*bytes.Buffer
}

// framedBuffer is a pooled buffer holding the headroom, with room for
// size bytes more and the tailroom.
func framedBuffer(size int) *bytes.Buffer {
	buf := getBuffer()
	// ReadFrom wants MinRead bytes of room to see the end.
	buf.Grow(headroom + size + bytes.MinRead + tailroom)
	buf.Write(blankHeadroom[:])
	return buf
}

func (b *body) release() {
	putBuffer(b.bufs[0])
	putBuffer(b.bufs[1])
	*b = body{}
}

// isJSONContentType accepts application/json (with parameters),
// application/*+json and an absent Content-Type.
func isJSONContentType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// contentEncoding reports whether the body is declared gzip; any other
// coding but identity is an error.
func contentEncoding(r *http.Request) (gz bool, apiErr *apiError) {
	for _, v := range r.Header.Values("Content-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			switch strings.ToLower(strings.TrimSpace(part)) {
			case "", "identity":
			case "gzip", "x-gzip":
				if gz {
					return false, errUnsupportedEncoding
				}
				gz = true
			default:
				return false, errUnsupportedEncoding
			}
		}
	}
	return gz, nil
}

var errUnsupportedEncoding = &apiError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedEncoding,
	message: "Content-Encoding must be gzip or absent"}

// readLimited reads r into a pooled framedBuffer, at most limit bytes; more
// is a 413. size is the length the sender declared (-1: unknown): the
// buffer gets room for it at once, so the body is copied only from the
// socket.
func readLimited(r io.Reader, size, limit int64, what string) (*bytes.Buffer, *apiError) {
	buf := framedBuffer(int(min(max(size, 0), limit)))
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if n > limit {
		putBuffer(buf)
		return nil, tooLarge(what, limit)
	}
	if err != nil {
		putBuffer(buf)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(what, mbe.Limit)
		}
		return nil, &apiError{status: http.StatusBadRequest, code: codeReadFailed, message: "the request body could not be read completely"}
	}
	return buf, nil
}

// decode turns raw (as received) into the JSON bytes: gunzipped when
// declared gzip or when it starts with the gzip magic, bounded by maxDecoded.
func decode(raw *bytes.Buffer, gz bool, maxDecoded int64) (body, *apiError) {
	b := body{framed: raw.Bytes(), data: raw.Bytes()[headroom:], bufs: [2]*bytes.Buffer{raw}}
	b.wireLen = len(b.data)
	if !gz && !bytes.HasPrefix(b.data, gzipMagic) {
		if len(b.data) == 0 {
			b.release()
			return body{}, &apiError{status: http.StatusBadRequest, code: codeEmptyBody, message: "the request body is empty"}
		}
		return b, nil
	}
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(b.data))
	} else {
		err = zr.Reset(bytes.NewReader(b.data))
	}
	if err != nil {
		b.release()
		return body{}, &apiError{status: http.StatusBadRequest, code: codeInvalidGzip, message: "the body is not valid gzip"}
	}
	out := framedBuffer(0)
	n, err := out.ReadFrom(io.LimitReader(zr, maxDecoded+1))
	gzipReaders.Put(zr)
	b.bufs[1] = out
	switch {
	case n > maxDecoded:
		b.release()
		return body{}, tooLarge("the decompressed body", maxDecoded)
	case err != nil:
		b.release()
		return body{}, &apiError{status: http.StatusBadRequest, code: codeInvalidGzip, message: "the body is not valid gzip (corrupt or truncated stream)"}
	case n == 0:
		b.release()
		return body{}, &apiError{status: http.StatusBadRequest, code: codeEmptyBody, message: "the decompressed body is empty"}
	}
	b.framed = out.Bytes()
	b.data = b.framed[headroom:]
	return b, nil
}

func tooLarge(what string, limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge,
		message: what + " exceeds the limit of " + formatBytes(limit)}
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	default:
		return itoa(n) + " bytes"
	}
}
