package gateway

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/devopsscore"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// TestPingEnvelope: the envelope pingEnvelope builds around the payload in
// the body's buffer is byte for byte proto.Marshal's, with every field of
// RawPing set or the common few, from a plain or a gunzipped body, with
// fields behind the payload that outgrow the tailroom; a recorded_at too
// long for the headroom is left to a whole marshal.
func TestPingEnvelope(t *testing.T) {
	t.Parallel()
	payload := []byte(`{"uuid":"u-1","recorded_at":"2026-01-05 10:00:00 UTC","version":"18.0.0","counts":{"issues":3}}`)
	snap := devopsscore.Snapshot{PingID: "p", RecordedAt: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}
	snap.SetActiveUsers(12)
	snap.SetCounter(devopsscore.Issues, 3)
	var score devopsscore.Score
	common := func() *servicepingv1.RawPing {
		return &servicepingv1.RawPing{
			PingId: strings.Repeat("ab", 32), UsageDataId: 1 << 40, Uuid: "u-1", RecordedAt: "2026-01-05 10:00:00 UTC",
			ReceivedAt: timestamppb.New(time.Date(2026, 1, 5, 10, 0, 1, 5, time.UTC)), Source: "api",
			SourceIp: "2001:db8::1", UserAgent: "GitLab/18.0.0",
		}
	}
	everything := func(t *testing.T, b body) *servicepingv1.RawPing {
		msg := common()
		msg.Devops = devopsscore.EntryProto(snap, &score)
		fillAll(t, msg, b.data)
		return msg
	}
	for _, tc := range []struct {
		name  string
		gz    bool
		build func(t *testing.T, b body) *servicepingv1.RawPing
		fits  bool
	}{
		{"common fields", false, func(_ *testing.T, b body) *servicepingv1.RawPing {
			msg := common()
			msg.Payload = b.data
			return msg
		}, true},
		{"every field", false, everything, true},
		{"every field, gunzipped", true, everything, true},
		{"beyond the tailroom", false, func(t *testing.T, b body) *servicepingv1.RawPing {
			msg := everything(t, b)
			msg.ReenrichId = strings.Repeat("r", 3*tailroom)
			return msg
		}, true},
		{"recorded_at beyond the headroom", false, func(_ *testing.T, b body) *servicepingv1.RawPing {
			msg := common()
			msg.RecordedAt = "2026-01-05T10:00:00." + strings.Repeat("0", headroom) + "Z"
			msg.Payload = b.data
			return msg
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := readBody(t, payload, tc.gz)
			defer b.release()
			msg := tc.build(t, b)
			want, err := proto.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := pingEnvelope(msg, b)
			if err != nil || ok != tc.fits {
				t.Fatalf("pingEnvelope: fits = %v, %v; want fits = %v", ok, err, tc.fits)
			}
			if !ok {
				return
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("envelope differs from proto.Marshal:\n got %x\nwant %x", got, want)
			}
			if !bytes.Equal(b.data, payload) {
				t.Fatalf("the payload changed: %q", b.data)
			}
			if tc.name != "beyond the tailroom" && !within(b.data, got) {
				t.Fatal("the payload was copied: the envelope is not around it")
			}
		})
	}
}

// readBody reads payload (gzipped when gz) as the handlers do.
func readBody(t *testing.T, payload []byte, gz bool) body {
	t.Helper()
	wire := payload
	if gz {
		wire = GzipBytes(t, payload)
	}
	raw, apiErr := readLimited(bytes.NewReader(wire), int64(len(wire)), 1<<20, "the body")
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	b, apiErr := decode(raw, gz, 1<<20)
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	if !bytes.Equal(b.data, payload) {
		t.Fatalf("read %q", b.data)
	}
	return b
}

// fillAll sets every field of msg that is not set yet, payload to payload;
// a field of a kind it does not know fails t (teach it, so that the test
// keeps covering every field).
func fillAll(t *testing.T, msg *servicepingv1.RawPing, payload []byte) {
	t.Helper()
	m := msg.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if m.Has(fd) {
			continue
		}
		switch fd.Kind() {
		case protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("value of "+string(fd.Name())))
		case protoreflect.Int64Kind:
			m.Set(fd, protoreflect.ValueOfInt64(int64(fd.Number())*1_000_003))
		case protoreflect.BytesKind:
			m.Set(fd, protoreflect.ValueOfBytes(payload))
		case protoreflect.MessageKind:
			m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
		default:
			t.Fatalf("field %s is of kind %s: teach fillAll to set it", fd.Name(), fd.Kind())
		}
	}
}

// within reports whether inner lies in outer's memory.
func within(inner, outer []byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(inner)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(outer)))
	return lo <= p && p+uintptr(len(inner)) <= lo+uintptr(len(outer))
}
