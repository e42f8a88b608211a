package gateway

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/serviceping/serviceping/services/gateway/internal/validate"
)

// MultipartBody is a browser's upload form with content in field as
// filename, and the form's Content-Type (for the external tests too).
func MultipartBody(tb testing.TB, field, filename string, content []byte) ([]byte, string) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("utf8", "✓")
	fw, err := mw.CreateFormFile(field, filename)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = fw.Write(content)
	_ = mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// GzipBytes is b compressed as one gzip member (for the external tests
// too).
func GzipBytes(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzUpload feeds the upload form's reading (uploadedFile: multipart,
// the file's field, gzip) arbitrary forms, and what it accepts to the
// payload validator as the handler does.
func FuzzUpload(f *testing.F) {
	payload, err := os.ReadFile("../../../testdata/payloads/docs_example.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range [][]byte{payload, GzipBytes(f, payload), []byte(`{"uuid":"u"}`), {0x1f, 0x8b, 0}, nil} {
		form, ct := MultipartBody(f, "file", "usage_ping.json", p)
		f.Add(strings.TrimPrefix(ct, "multipart/form-data; boundary="), form)
	}
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--\r\n"))
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n{}"))
	const maxBody, maxDecoded = 64 << 10, 256 << 10
	f.Fuzz(func(t *testing.T, boundary string, form []byte) {
		r := &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"multipart/form-data; boundary=" + boundary}},
			Body: io.NopCloser(bytes.NewReader(form))}
		b, apiErr := uploadedFile(r, maxBody, maxDecoded)
		if apiErr != nil {
			if apiErr.status < 400 || apiErr.status > 499 || apiErr.code == "" || apiErr.message == "" {
				t.Fatalf("upload refused with %+v", apiErr)
			}
			return
		}
		defer b.release()
		if len(b.data) == 0 || len(b.data) > maxDecoded || b.wireLen > maxBody {
			t.Fatalf("accepted %d bytes (%d as sent)", len(b.data), b.wireLen)
		}
		_, _ = validate.DecodePing(b.data, validate.DefaultLimits())
	})
}
