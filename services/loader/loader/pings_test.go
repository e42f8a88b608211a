package loader

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// TestPayloadField: the constant is the schema's field number.
func TestPayloadField(t *testing.T) {
	if n := (&servicepingv1.EnrichedPing{}).ProtoReflect().Descriptor().Fields().ByName("payload").Number(); n != payloadField {
		t.Fatalf("EnrichedPing.payload is field %d, payloadField says %d", n, payloadField)
	}
}

// TestEnvelopePayload: the payload found inside an encoded envelope is the
// one Unmarshal decodes, and lies in the encoded bytes (not a copy).
func TestEnvelopePayload(t *testing.T) {
	payload := bytes.Repeat([]byte(`{"counts":{"issues":1}}`), 500)
	data, err := proto.Marshal(&servicepingv1.EnrichedPing{PingId: "p", Payload: payload, Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := envelopePayload(data)
	if !ok || !bytes.Equal(got, payload) {
		t.Fatalf("envelopePayload = %d bytes, %v; want the %d payload bytes", len(got), ok, len(payload))
	}
	if &got[0] != &data[len(data)-len(got)-len("api")-2] {
		t.Error("the payload is not the envelope's own bytes")
	}
	for name, data := range map[string][]byte{
		"no payload": mustMarshal(t, &servicepingv1.EnrichedPing{PingId: "p"}),
		"truncated":  data[:len(data)/2],
	} {
		if b, ok := envelopePayload(data); ok {
			t.Errorf("%s: found %d bytes", name, len(b))
		}
	}
}
