package streams

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// The Nats-Msg-Id of every message (docs/contracts.md, "Message ids"). A
// stream drops a message whose id it saw within its duplicate window, so
// each id says what must be dropped (a resubmission, a redelivery's second
// copy) and what must not (a re-enrichment, another stream's message).

// RawMsgID is the Nats-Msg-Id of a raw ping: its ping_id (docs/contracts.md,
// "Ping identity"), so a resubmitted ping is dropped by JetStream's
// duplicate window. A ping re-published for another run through the
// pipeline (Republish) gets "/<runID>" appended so that it is not dropped
// as a duplicate of the original.
func RawMsgID(pingID, runID string) string {
	if runID == "" {
		return pingID
	}
	return pingID + "/" + runID
}

// EnrichedMsgID is the Nats-Msg-Id of an enriched ping. Raw and enriched
// pings share the PINGS stream and so one duplicate window: the enriched
// message must not reuse the raw message's id, or JetStream would drop it
// as a duplicate.
func EnrichedMsgID(pingID, runID string) string {
	return "enriched:" + RawMsgID(pingID, runID)
}

// CRMUsageMsgID is the Nats-Msg-Id of the account usage a matched ping
// queues for the CRM: a redelivered raw ping queues it once, a re-enriched
// one again.
func CRMUsageMsgID(pingID, runID string) string {
	return "crm-" + RawMsgID(pingID, runID)
}

// ReportMsgID is the Nats-Msg-Id of an error report or metric timings
// message, and its report_id: the lowercase hex SHA-256 of the body as
// received (decompressed), so a report sent twice is stored once.
func ReportMsgID(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// DeadLetterMsgID is the Nats-Msg-Id of the dead letter of message seq of
// stream, given up by consumer: dead-lettering the same message again is
// dropped by the DLQ's duplicate window, while messages of different
// streams never collide (a consumer name can exist on several streams).
func DeadLetterMsgID(stream, consumer string, seq uint64) string {
	return stream + "." + consumer + "-" + strconv.FormatUint(seq, 10)
}
