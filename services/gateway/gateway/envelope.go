package gateway

import (
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

var marshal = proto.MarshalOptions{}

// envelopes recycles marshalled envelope buffers (nats copies on publish).
var envelopes = sync.Pool{New: func() any { return new([]byte) }}

// encode marshals m into a pooled buffer; release returns the buffer.
func encode(m proto.Message) (data []byte, release func(), err error) {
	bp := envelopes.Get().(*[]byte)
	data, err = marshal.MarshalAppend((*bp)[:0], m)
	return data, func() {
		if cap(data) <= maxPooledBuffer {
			*bp = data[:0]
			envelopes.Put(bp)
		}
	}, err
}

// pingEnvelope encodes msg, whose payload is b.data, around the payload in
// b's own buffer, so that the payload is not copied once more: the fields
// numbered below the payload's (6) go into the headroom in front of it,
// those above it after it. The bytes are proto.Marshal's, which writes
// fields in number order (TestPingEnvelope holds them to it, every field
// of RawPing set). ok is false when the fields in front do not fit the
// headroom (a very long recorded_at).
func pingEnvelope(msg *servicepingv1.RawPing, b body) (data []byte, ok bool, err error) {
	const payload protowire.Number = 6
	front := &servicepingv1.RawPing{PingId: msg.PingId, UsageDataId: msg.UsageDataId, Uuid: msg.Uuid,
		RecordedAt: msg.RecordedAt, ReceivedAt: msg.ReceivedAt}
	back := &servicepingv1.RawPing{Source: msg.Source, SourceIp: msg.SourceIp, UserAgent: msg.UserAgent,
		ReenrichId: msg.ReenrichId, Devops: msg.Devops}
	size := marshal.Size(front) + protowire.SizeTag(payload) + protowire.SizeVarint(uint64(len(b.data)))
	if size > headroom {
		return nil, false, nil
	}
	start := headroom - size
	head, err := marshal.MarshalAppend(b.framed[start:start], front)
	if err != nil {
		return nil, false, err
	}
	head = protowire.AppendTag(head, payload, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(len(b.data)))
	if len(head) != size {
		return nil, false, nil // not where the payload is: marshal it whole
	}
	data, err = marshal.MarshalAppend(b.framed[start:headroom+len(b.data)], back)
	return data, err == nil, err
}
