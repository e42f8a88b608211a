package chhttp

import (
	"encoding/binary"
)

// Native protocol revisions that change the block layout.
const (
	revisionWithBlockInfo           = 51903
	revisionWithCustomSerialization = 54454
)

// nativeColumn is one column of a Native block built by the endpoint.
type nativeColumn struct {
	name, typ string
	strs      []string // String data
	u32s      []uint32 // UInt32 data
}

// encodeNative writes one Native block at the given protocol revision: with
// block info from 51903 on and a per-column custom-serialization flag from
// 54454 on, as a server answering client_protocol_version does.
func encodeNative(revision uint64, cols []nativeColumn) []byte {
	rows := 0
	if len(cols) > 0 {
		rows = max(len(cols[0].strs), len(cols[0].u32s))
	}
	var b []byte
	if revision >= revisionWithBlockInfo {
		b = binary.AppendUvarint(b, 1) // field 1: is_overflows
		b = append(b, 0)
		b = binary.AppendUvarint(b, 2) // field 2: bucket_num
		b = binary.LittleEndian.AppendUint32(b, 0xffffffff)
		b = binary.AppendUvarint(b, 0) // end of block info
	}
	b = binary.AppendUvarint(b, uint64(len(cols)))
	b = binary.AppendUvarint(b, uint64(rows))
	for _, c := range cols {
		b = appendString(b, c.name)
		b = appendString(b, c.typ)
		if revision >= revisionWithCustomSerialization {
			b = append(b, 0) // no custom serialization
		}
		for _, s := range c.strs {
			b = appendString(b, s)
		}
		for _, v := range c.u32s {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
