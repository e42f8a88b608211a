package chhttp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// The engine writes Native at protocol revision 0, and ClickHouse strips
// the time zone from a DateTime column's type at that revision
// (DateTime('Europe/Moscow') becomes DateTime, read as the server's zone).
// The endpoint therefore asks the engine for the types in their binary
// encoding (output_format_native_encode_types_in_binary_format), which keeps
// every detail, and writes each block again with the types' full names. The
// block layout stays that of revision 0 — the revision the endpoint reports
// to clients — and the column data is copied as is; only the data of the
// types below is understood, enough to find where each column ends.
// nativeTranscoder does this one block at a time.
const nativeBinaryTypes = "output_format_native_encode_types_in_binary_format"

// errUnsupportedType reports a column type whose data layout the transcoder
// does not know (AggregateFunction, Variant, Dynamic, JSON, ...): the query
// is then run again without binary types.
var errUnsupportedType = errors.New("column type not transcodable")

// errShortBlock reports a block that continues in the next chunk.
var errShortBlock = errors.New("native block continues")

// layout says how a type's column data is laid out in Native.
type layout int

const (
	layoutFixed layout = iota // fixed bytes per row
	layoutString
	layoutNullable       // null map, then the nested column
	layoutArray          // UInt64 offsets, then the nested column
	layoutTuple          // the element columns one after the other
	layoutLowCardinality // dictionary and indexes (prefix: key version)
)

// nativeType is a column type decoded from its binary encoding.
type nativeType struct {
	name   string
	layout layout
	width  int           // layoutFixed: bytes per row
	elems  []*nativeType // nested types (Map's is its Tuple(key, value))
}

// dictionary is the type of a LowCardinality's dictionary: the nested type
// without Nullable.
func (t *nativeType) dictionary() *nativeType {
	d := t.elems[0]
	if d.layout == layoutNullable {
		return d.elems[0]
	}
	return d
}

// byteReader reads Native data; a read past the end sets errShortBlock.
type byteReader struct {
	b   []byte
	off int
	err error
}

func (r *byteReader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.err = errShortBlock
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *byteReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		if n == 0 {
			r.err = errShortBlock
		} else {
			r.err = errors.New("native: bad varint")
		}
		return 0
	}
	r.off += n
	return v
}

func (r *byteReader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *byteReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *byteReader) str() string { return string(r.take(r.uvarint())) }

// Binary type codes (ClickHouse's data types binary encoding).
const (
	btNothing     = 0x00
	btDateTime    = 0x11
	btDateTimeTZ  = 0x12
	btDateTime64  = 0x13
	btDT64TZ      = 0x14
	btString      = 0x15
	btFixedString = 0x16
	btEnum8       = 0x17
	btEnum16      = 0x18
	btDecimal32   = 0x19
	btDecimal256  = 0x1C
	btArray       = 0x1E
	btTuple       = 0x1F
	btNamedTuple  = 0x20
	btInterval    = 0x22
	btNullable    = 0x23
	btLowCard     = 0x26
	btMap         = 0x27
	btCustom      = 0x2C
	btSimpleAgg   = 0x2E
	btNested      = 0x2F
	btTime64      = 0x33
)

// simpleTypes are the types named by their code alone, with their width.
var simpleTypes = map[byte]struct {
	name  string
	width int
}{
	0x01: {"UInt8", 1}, 0x02: {"UInt16", 2}, 0x03: {"UInt32", 4}, 0x04: {"UInt64", 8},
	0x05: {"UInt128", 16}, 0x06: {"UInt256", 32}, 0x07: {"Int8", 1}, 0x08: {"Int16", 2},
	0x09: {"Int32", 4}, 0x0A: {"Int64", 8}, 0x0B: {"Int128", 16}, 0x0C: {"Int256", 32},
	0x0D: {"Float32", 4}, 0x0E: {"Float64", 8}, 0x0F: {"Date", 2}, 0x10: {"Date32", 4},
	btDateTime: {"DateTime", 4}, 0x1D: {"UUID", 16}, 0x28: {"IPv4", 4}, 0x29: {"IPv6", 16},
	0x2D: {"Bool", 1}, 0x31: {"BFloat16", 2}, 0x32: {"Time", 4}, btNothing: {"Nothing", 1},
}

var intervalKinds = []string{"Nanosecond", "Microsecond", "Millisecond", "Second", "Minute", "Hour", "Day", "Week", "Month", "Quarter", "Year"}

// geoTypes are the custom types the transcoder knows, by their storage.
var geoTypes = map[string]string{
	"Point": "Tuple(Float64, Float64)", "Ring": "Array(Point)", "LineString": "Array(Point)",
	"MultiLineString": "Array(LineString)", "Polygon": "Array(Ring)", "MultiPolygon": "Array(Polygon)",
}

func fixed(name string, width int) *nativeType {
	return &nativeType{name: name, layout: layoutFixed, width: width}
}

// decodeType reads one binary-encoded type.
func decodeType(r *byteReader, depth int) (*nativeType, error) {
	if depth > 64 {
		return nil, errors.New("native: type nested too deep")
	}
	code := r.u8()
	if r.err != nil {
		return nil, r.err
	}
	if s, ok := simpleTypes[code]; ok {
		return fixed(s.name, s.width), nil
	}
	nested := func(n uint64) ([]*nativeType, error) {
		var ts []*nativeType
		for range n {
			t, err := decodeType(r, depth+1)
			if err != nil {
				return nil, err
			}
			ts = append(ts, t)
		}
		return ts, nil
	}
	// wrap reads the one type nested in a kind(T) type.
	wrap := func(kind string, l layout) (*nativeType, error) {
		ts, err := nested(1)
		if err != nil {
			return nil, err
		}
		return &nativeType{name: kind + "(" + ts[0].name + ")", layout: l, elems: ts}, nil
	}
	switch code {
	case btDateTimeTZ:
		return fixed("DateTime("+quoteSQL(r.str())+")", 4), r.err
	case btDateTime64:
		return fixed(fmt.Sprintf("DateTime64(%d)", r.u8()), 8), r.err
	case btDT64TZ:
		p := r.u8()
		return fixed(fmt.Sprintf("DateTime64(%d, %s)", p, quoteSQL(r.str())), 8), r.err
	case btTime64:
		return fixed(fmt.Sprintf("Time64(%d)", r.u8()), 8), r.err
	case btString:
		return &nativeType{name: "String", layout: layoutString}, nil
	case btFixedString:
		n := r.uvarint()
		if n > 1<<20 {
			return nil, errUnsupportedType
		}
		return fixed(fmt.Sprintf("FixedString(%d)", n), int(n)), r.err
	case btEnum8, btEnum16:
		return decodeEnum(r, code)
	case btDecimal32, btDecimal32 + 1, btDecimal32 + 2, btDecimal256:
		p, s := r.u8(), r.u8()
		return fixed(fmt.Sprintf("Decimal(%d, %d)", p, s), 4<<(code-btDecimal32)), r.err
	case btArray:
		return wrap("Array", layoutArray)
	case btTuple:
		ts, err := nested(r.uvarint())
		if err != nil {
			return nil, err
		}
		return tupleOf("Tuple", nil, ts), nil
	case btNamedTuple, btNested:
		n := r.uvarint()
		var names []string
		var ts []*nativeType
		for range n {
			names = append(names, r.str())
			t, err := decodeType(r, depth+1)
			if err != nil {
				return nil, err
			}
			ts = append(ts, t)
		}
		if code == btNamedTuple {
			return tupleOf("Tuple", names, ts), nil
		}
		tuple := tupleOf("Tuple", names, ts)
		return &nativeType{name: tupleOf("Nested", names, ts).name, layout: layoutArray, elems: []*nativeType{tuple}}, nil
	case btInterval:
		k := int(r.u8())
		if k >= len(intervalKinds) {
			return nil, errUnsupportedType
		}
		return fixed("Interval"+intervalKinds[k], 8), r.err
	case btNullable:
		return wrap("Nullable", layoutNullable)
	case btLowCard:
		return wrap("LowCardinality", layoutLowCardinality)
	case btMap:
		ts, err := nested(2)
		if err != nil {
			return nil, err
		}
		return &nativeType{name: "Map(" + ts[0].name + ", " + ts[1].name + ")", layout: layoutArray,
			elems: []*nativeType{tupleOf("Tuple", nil, ts)}}, nil
	case btCustom:
		return geoType(r.str(), 0)
	case btSimpleAgg:
		fn := r.str()
		if params := r.uvarint(); params != 0 || r.err != nil {
			return nil, errUnsupportedType
		}
		ts, err := nested(r.uvarint())
		if err != nil {
			return nil, err
		}
		if len(ts) != 1 {
			return nil, errUnsupportedType
		}
		storage := *ts[0]
		storage.name = "SimpleAggregateFunction(" + fn + ", " + ts[0].name + ")"
		return &storage, nil
	default:
		return nil, errUnsupportedType
	}
}

func decodeEnum(r *byteReader, code byte) (*nativeType, error) {
	n := r.uvarint()
	if n > 1<<16 {
		return nil, errUnsupportedType
	}
	name, width := "Enum8(", 1
	if code == btEnum16 {
		name, width = "Enum16(", 2
	}
	var b strings.Builder
	b.WriteString(name)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteSQL(r.str()) + " = ")
		if width == 1 {
			b.WriteString(strconv.Itoa(int(int8(r.u8()))))
		} else if v := r.take(2); v != nil {
			b.WriteString(strconv.Itoa(int(int16(binary.LittleEndian.Uint16(v)))))
		}
	}
	b.WriteString(")")
	return fixed(b.String(), width), r.err
}

// geoType is a custom type the transcoder knows (the geo types), with the
// layout of its storage.
func geoType(name string, depth int) (*nativeType, error) {
	storage, ok := geoTypes[name]
	if !ok || depth > 4 {
		return nil, errUnsupportedType
	}
	if storage == "Tuple(Float64, Float64)" {
		return &nativeType{name: name, layout: layoutTuple, elems: []*nativeType{fixed("Float64", 8), fixed("Float64", 8)}}, nil
	}
	inner, err := geoType(strings.TrimSuffix(strings.TrimPrefix(storage, "Array("), ")"), depth+1)
	if err != nil {
		return nil, err
	}
	return &nativeType{name: name, layout: layoutArray, elems: []*nativeType{inner}}, nil
}

func tupleOf(kind string, names []string, ts []*nativeType) *nativeType {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.name
		if names != nil {
			parts[i] = backQuoteIfNeed(names[i]) + " " + t.name
		}
	}
	return &nativeType{name: kind + "(" + strings.Join(parts, ", ") + ")", layout: layoutTuple, elems: ts}
}

// quoteSQL quotes s as a ClickHouse string literal.
func quoteSQL(s string) string {
	return "'" + strings.NewReplacer("\\", "\\\\", "'", "\\'").Replace(s) + "'"
}

// backQuoteIfNeed quotes an identifier that is not a plain word, as
// ClickHouse does in type names.
func backQuoteIfNeed(s string) string {
	plain := s != "" && !(s[0] >= '0' && s[0] <= '9')
	for i := 0; i < len(s) && plain; i++ {
		plain = isWordByte(s[i]) && s[i] < 0x80
	}
	if plain {
		return s
	}
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(s) + "`"
}

// skipPrefix reads past a column's serialization state prefix.
func skipPrefix(r *byteReader, t *nativeType) {
	switch t.layout {
	case layoutLowCardinality:
		r.u64() // keys serialization version
	case layoutNullable, layoutArray, layoutTuple:
		for _, e := range t.elems {
			skipPrefix(r, e)
		}
	}
}

// skipData reads past rows values of a column.
func skipData(r *byteReader, t *nativeType, rows uint64) {
	switch t.layout {
	case layoutFixed:
		r.take(rows * uint64(t.width))
	case layoutString:
		for i := uint64(0); i < rows && r.err == nil; i++ {
			r.take(r.uvarint())
		}
	case layoutNullable:
		r.take(rows)
		skipData(r, t.elems[0], rows)
	case layoutArray:
		if rows == 0 {
			return
		}
		offsets := r.take(rows * 8)
		if offsets == nil {
			return
		}
		skipData(r, t.elems[0], binary.LittleEndian.Uint64(offsets[len(offsets)-8:]))
	case layoutTuple:
		for _, e := range t.elems {
			skipData(r, e, rows)
		}
	case layoutLowCardinality:
		for done := uint64(0); done < rows && r.err == nil; {
			const needGlobalDictionary, hasAdditionalKeys = 1 << 8, 1 << 9
			flags := r.u64()
			if flags&needGlobalDictionary != 0 || flags&0xff > 3 {
				r.err = errUnsupportedType
				return
			}
			if flags&hasAdditionalKeys != 0 {
				skipData(r, t.dictionary(), r.u64())
			}
			n := r.u64()
			r.take(n << (flags & 0xff))
			done += n
		}
	}
}

// nativeTranscoder rewrites the engine's Native blocks (types in binary)
// with the types' names. Blocks may span chunks.
type nativeTranscoder struct {
	pending []byte
	out     []byte
}

// write transcodes the complete blocks of pending+chunk and returns them;
// the output is valid until the next call.
func (tc *nativeTranscoder) write(chunk []byte) ([]byte, error) {
	src := chunk
	if len(tc.pending) > 0 {
		tc.pending = append(tc.pending, chunk...)
		src = tc.pending
	}
	tc.out = tc.out[:0]
	off := 0
	for off < len(src) {
		n, err := tc.block(src[off:])
		if errors.Is(err, errShortBlock) {
			break
		}
		if err != nil {
			return nil, err
		}
		off += n
	}
	tc.pending = append(tc.pending[:0], src[off:]...)
	return tc.out, nil
}

// finish reports an incomplete block left at the end of the output.
func (tc *nativeTranscoder) finish() error {
	if len(tc.pending) > 0 {
		return errors.New("native output ends inside a block")
	}
	return nil
}

// block transcodes the block at the start of src into tc.out and returns
// its length in src.
func (tc *nativeTranscoder) block(src []byte) (int, error) {
	r := &byteReader{b: src}
	mark := len(tc.out)
	cols, rows := r.uvarint(), r.uvarint()
	tc.out = binary.AppendUvarint(tc.out, cols)
	tc.out = binary.AppendUvarint(tc.out, rows)
	for range cols {
		name := r.take(r.uvarint())
		t, err := decodeType(r, 0)
		if err == nil {
			err = r.err
		}
		if err != nil {
			tc.out = tc.out[:mark]
			return 0, err
		}
		tc.out = binary.AppendUvarint(tc.out, uint64(len(name)))
		tc.out = append(tc.out, name...)
		tc.out = appendString(tc.out, t.name)
		start := r.off
		if rows > 0 {
			skipPrefix(r, t)
			skipData(r, t, rows)
		}
		if r.err != nil {
			tc.out = tc.out[:mark]
			return 0, r.err
		}
		tc.out = append(tc.out, src[start:r.off]...)
	}
	if r.err != nil {
		tc.out = tc.out[:mark]
		return 0, r.err
	}
	return r.off, nil
}
