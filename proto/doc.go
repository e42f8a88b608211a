// Package proto holds the protobuf schemas of the stream envelopes; the
// generated Go lives in serviceping/v1 (package servicepingv1).
package proto
