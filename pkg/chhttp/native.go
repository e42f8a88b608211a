package chhttp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/serviceping/serviceping/pkg/chconn"
)

// Protocol revisions (client_protocol_version) at which ClickHouse's Native
// output changes, as its NativeWriter writes them.
const (
	// From revision 1 on every block starts with its block info.
	revisionWithTimeZoneInDateTime  = 54337 // a top-level DateTime keeps its zone
	revisionWithLowCardinality      = 54405 // below it (but not at 0) LowCardinality columns are plain
	revisionWithCustomSerialization = 54454 // a serialization-kind byte after each column's type
	revisionWithDynamicV2           = 54473 // Dynamic and JSON in their V2 layout
	// maxRevision is the newest revision whose layout the endpoint writes:
	// a client asking for a later one gets this one, as from a ClickHouse
	// server of that revision. (The engine writes Dynamic and JSON in their
	// V1 layout, which the clients read up to revisionWithDynamicV2.)
	maxRevision = revisionWithDynamicV2 - 1
)

// negotiateRevision returns the revision of the Native the endpoint writes
// for a request's client_protocol_version: the client's, at most
// maxRevision; 0 when it sends none.
func negotiateRevision(param string) (uint64, error) {
	if param == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(param, 10, 64)
	if err != nil {
		return 0, &httpError{status: http.StatusBadRequest, code: codeCannotParseText,
			msg: fmt.Sprintf("DB::Exception: Cannot parse client_protocol_version %s as UInt64. (CANNOT_PARSE_TEXT)", chconn.Quote(param))}
	}
	return min(v, maxRevision), nil
}

// blockInfo is the block info a block of the endpoint's starts with from
// revision 1 on: is_overflows = false, bucket_num = -1 (a result's block).
var blockInfo = []byte{1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0}

// nativeColumn is one column of a Native block built by the endpoint.
type nativeColumn struct {
	name, typ string
	strs      []string // String data
	u32s      []uint32 // UInt32 data
}

// encodeNative writes one Native block at the given protocol revision.
func encodeNative(revision uint64, cols []nativeColumn) []byte {
	rows := 0
	if len(cols) > 0 {
		rows = max(len(cols[0].strs), len(cols[0].u32s))
	}
	var b []byte
	if revision > 0 {
		b = append(b, blockInfo...)
	}
	b = binary.AppendUvarint(b, uint64(len(cols)))
	b = binary.AppendUvarint(b, uint64(rows))
	for _, c := range cols {
		b = appendString(b, c.name)
		b = appendString(b, c.typ)
		if revision >= revisionWithCustomSerialization {
			b = append(b, 0) // default serialization
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

// The engine writes Native at protocol revision 0 whatever the client asks
// for — which is what ClickHouse writes at revision 0 (a top-level
// DateTime('Europe/Moscow') named just DateTime), so such a result goes out
// untouched. For a later revision (negotiateRevision) the endpoint asks the
// engine for the types in their binary encoding
// (output_format_native_encode_types_in_binary_format), which keeps every
// detail, and writes each block again as ClickHouse's NativeWriter writes it
// at that revision: the block info, the types' names (a top-level
// DateTime's zone dropped below revisionWithTimeZoneInDateTime,
// LowCardinality made plain below revisionWithLowCardinality), and from
// revisionWithCustomSerialization a serialization-kind byte per column
// (always "default": the engine's data at revision 0 is never sparse). The
// column data is copied as is, except where LowCardinality is made plain and
// where Dynamic names its types in the data's prefix. Only the data of the
// types below is understood — enough to find where each column ends; a
// result with another type (AggregateFunction, ...) is refused at a revision
// above 0. nativeTranscoder does this one block at a time.
const nativeBinaryTypes = "output_format_native_encode_types_in_binary_format"

// errUnsupportedType reports a column type whose data layout the transcoder
// does not know (AggregateFunction, ...).
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
	layoutVariant        // UInt8 discriminators (255: NULL), then each variant's rows
	layoutDynamic        // its types in the data's prefix (dynamicPrefix)
	layoutJSON           // its dynamic paths in the data's prefix (jsonPrefix)
	layoutIndexed        // a flattened Dynamic: indexes as wide as its types need, then each type's rows
)

// nativeType is a column type decoded from its binary encoding, or the
// layout of a column's data once its prefix is read.
type nativeType struct {
	name   string
	layout layout
	width  int           // layoutFixed: bytes per row
	elems  []*nativeType // nested types (Map's is its Tuple(key, value); JSON's its typed paths)
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

// hasLowCardinality tells whether LowCardinality is in t where ClickHouse
// makes it plain for old clients: at the top or in arrays, tuples and maps.
func (t *nativeType) hasLowCardinality() bool {
	switch t.layout {
	case layoutLowCardinality:
		return true
	case layoutArray, layoutTuple:
		for _, e := range t.elems {
			if e.hasLowCardinality() {
				return true
			}
		}
	}
	return false
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

// takeN reads count values of width bytes each.
func (r *byteReader) takeN(count uint64, width int) []byte {
	if r.err == nil && width > 0 && count > uint64(len(r.b)-r.off)/uint64(width) {
		r.err = errShortBlock
	}
	return r.take(count * uint64(width))
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

// count reads a count of n items of at least one byte each: more than the
// bytes left is a block that continues (or garbage, which never completes).
func (r *byteReader) count() uint64 {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)-r.off) {
		r.err = errShortBlock
	}
	return n
}

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
	btVariant     = 0x2A
	btDynamic     = 0x2B
	btCustom      = 0x2C
	btSimpleAgg   = 0x2E
	btNested      = 0x2F
	btJSON        = 0x30
	btTime64      = 0x34
	btQBit        = 0x36
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

// The defaults of Dynamic's max_types and JSON's max_dynamic_types and
// max_dynamic_paths, which their names leave out.
const (
	defaultMaxDynamicTypes = 32
	defaultMaxDynamicPaths = 1024
)

func fixed(name string, width int) *nativeType {
	return &nativeType{name: name, layout: layoutFixed, width: width}
}

// decodeType reads one binary-encoded type. plain makes LowCardinality
// plain where ClickHouse does for old clients (at the top, in arrays,
// tuples and maps).
func decodeType(r *byteReader, depth int, plain bool) (*nativeType, error) {
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
	nested := func(n uint64, plain bool) ([]*nativeType, error) {
		var ts []*nativeType
		for range n {
			t, err := decodeType(r, depth+1, plain)
			if err != nil {
				return nil, err
			}
			ts = append(ts, t)
		}
		return ts, nil
	}
	// wrap reads the one type nested in a kind(T) type.
	wrap := func(kind string, l layout, plain bool) (*nativeType, error) {
		ts, err := nested(1, plain)
		if err != nil {
			return nil, err
		}
		return &nativeType{name: kind + "(" + ts[0].name + ")", layout: l, elems: ts}, nil
	}
	switch code {
	case btDateTimeTZ:
		return fixed("DateTime("+chconn.Quote(r.str())+")", 4), r.err
	case btDateTime64:
		return fixed(fmt.Sprintf("DateTime64(%d)", r.u8()), 8), r.err
	case btDT64TZ:
		p := r.u8()
		return fixed(fmt.Sprintf("DateTime64(%d, %s)", p, chconn.Quote(r.str())), 8), r.err
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
		return wrap("Array", layoutArray, plain)
	case btTuple:
		ts, err := nested(r.count(), plain)
		if err != nil {
			return nil, err
		}
		return tupleOf("Tuple", nil, ts), nil
	case btNamedTuple, btNested:
		n := r.count()
		var names []string
		var ts []*nativeType
		for range n {
			names = append(names, r.str())
			t, err := decodeType(r, depth+1, plain)
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
		return wrap("Nullable", layoutNullable, false)
	case btLowCard:
		t, err := wrap("LowCardinality", layoutLowCardinality, false)
		if err == nil && plain {
			return t.elems[0], nil
		}
		return t, err
	case btMap:
		ts, err := nested(2, plain)
		if err != nil {
			return nil, err
		}
		return &nativeType{name: "Map(" + ts[0].name + ", " + ts[1].name + ")", layout: layoutArray,
			elems: []*nativeType{tupleOf("Tuple", nil, ts)}}, nil
	case btVariant:
		ts, err := nested(r.count(), false)
		if err != nil {
			return nil, err
		}
		t := tupleOf("Variant", nil, ts)
		t.layout = layoutVariant
		return t, nil
	case btDynamic:
		name := "Dynamic"
		if m := r.u8(); m != defaultMaxDynamicTypes {
			name = fmt.Sprintf("Dynamic(max_types=%d)", m)
		}
		return &nativeType{name: name, layout: layoutDynamic}, r.err
	case btJSON:
		return decodeJSON(r, depth)
	case btQBit:
		// QBit(T, n): the n values' bits, one bit plane of ceil(n/8) bytes
		// per bit of T (a float), as a Tuple of FixedStrings.
		elem, err := decodeType(r, depth+1, false)
		if err != nil {
			return nil, err
		}
		n := r.uvarint()
		if elem.layout != layoutFixed || n > 1<<20 {
			return nil, fmt.Errorf("%w: QBit(%s, %d)", errUnsupportedType, elem.name, n)
		}
		return fixed(fmt.Sprintf("QBit(%s, %d)", elem.name, n), elem.width*8*int((n+7)/8)), r.err
	case btCustom:
		return geoType(r.str(), 0)
	case btSimpleAgg:
		fn := r.str()
		if params := r.uvarint(); params != 0 || r.err != nil {
			return nil, errUnsupportedType
		}
		ts, err := nested(r.count(), plain)
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
		return nil, fmt.Errorf("%w: binary type code 0x%02X", errUnsupportedType, code)
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
		b.WriteString(chconn.Quote(r.str()) + " = ")
		if width == 1 {
			b.WriteString(strconv.Itoa(int(int8(r.u8()))))
		} else if v := r.take(2); v != nil {
			b.WriteString(strconv.Itoa(int(int16(binary.LittleEndian.Uint16(v)))))
		}
	}
	b.WriteString(")")
	return fixed(b.String(), width), r.err
}

// decodeJSON reads a JSON type (after its code) and names it as ClickHouse
// does: JSON(max_dynamic_types=N, max_dynamic_paths=N, typed paths, SKIP
// paths, SKIP REGEXP expressions), each kind sorted, defaults left out. Its
// elems are the typed paths' types in the order of their paths.
func decodeJSON(r *byteReader, depth int) (*nativeType, error) {
	if v := r.u8(); v != 0 {
		return nil, fmt.Errorf("%w: JSON type encoding version %d", errUnsupportedType, v)
	}
	maxPaths, maxTypes := r.uvarint(), r.u8()
	type typedPath struct {
		path string
		t    *nativeType
	}
	var typed []typedPath
	for range r.count() {
		p := r.str()
		t, err := decodeType(r, depth+1, false)
		if err != nil {
			return nil, err
		}
		typed = append(typed, typedPath{p, t})
	}
	strs := func() []string {
		var s []string
		for range r.count() {
			s = append(s, r.str())
		}
		slices.Sort(s)
		return s
	}
	skip, regexps := strs(), strs()
	if r.err != nil {
		return nil, r.err
	}
	slices.SortFunc(typed, func(a, b typedPath) int { return strings.Compare(a.path, b.path) })
	var args []string
	if maxTypes != defaultMaxDynamicTypes {
		args = append(args, fmt.Sprintf("max_dynamic_types=%d", maxTypes))
	}
	if maxPaths != defaultMaxDynamicPaths {
		args = append(args, fmt.Sprintf("max_dynamic_paths=%d", maxPaths))
	}
	t := &nativeType{name: "JSON", layout: layoutJSON}
	for _, p := range typed {
		args = append(args, backQuoteIfNeed(p.path)+" "+p.t.name)
		t.elems = append(t.elems, p.t)
	}
	for _, s := range skip {
		args = append(args, "SKIP "+backQuoteIfNeed(s))
	}
	for _, s := range regexps {
		args = append(args, "SKIP REGEXP "+chconn.Quote(s))
	}
	if len(args) > 0 {
		t.name += "(" + strings.Join(args, ", ") + ")"
	}
	return t, nil
}

// geoType is a custom type the transcoder knows (the geo types), with the
// layout of its storage.
func geoType(name string, depth int) (*nativeType, error) {
	storage, ok := geoTypes[name]
	if !ok || depth > 4 {
		return nil, fmt.Errorf("%w: custom type %s", errUnsupportedType, name)
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

// Serialization versions in the data prefix of Dynamic and JSON columns.
const (
	dynamicV1        = 1 // what the engine writes (revision 0)
	dynamicFlattened = 3 // output_format_native_use_flattened_dynamic_and_json_serialization
	jsonV1           = 0
	jsonString       = 1 // output_format_native_write_json_as_string
	jsonFlattened    = 3
)

// sharedData is the layout of a JSON's paths beyond its dynamic ones:
// Map(String, String).
var sharedData = &nativeType{layout: layoutArray, elems: []*nativeType{{layout: layoutTuple,
	elems: []*nativeType{{layout: layoutString}, {layout: layoutString}}}}}

// nativeTranscoder rewrites the engine's Native blocks (revision 0, types in
// binary) as ClickHouse writes them at revision. Blocks may span chunks.
type nativeTranscoder struct {
	revision uint64
	// binaryTypes keeps the types in their binary encoding: the client
	// asked for it (output_format_native_encode_types_in_binary_format).
	binaryTypes bool
	pending     []byte
	out         []byte
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
	fail := func(err error) (int, error) {
		tc.out = tc.out[:mark]
		return 0, err
	}
	if tc.revision > 0 {
		tc.out = append(tc.out, blockInfo...)
	}
	plain := tc.revision > 0 && tc.revision < revisionWithLowCardinality
	cols, rows := r.uvarint(), r.uvarint()
	tc.out = binary.AppendUvarint(tc.out, cols)
	tc.out = binary.AppendUvarint(tc.out, rows)
	for range cols {
		tc.out = appendString(tc.out, string(r.take(r.uvarint())))
		at := r.off
		t, err := decodeType(r, 0, false)
		if err == nil {
			err = r.err
		}
		if err != nil {
			return fail(err)
		}
		name := t.name
		if plain && t.hasLowCardinality() {
			pt, err := decodeType(&byteReader{b: src, off: at}, 0, true)
			if err != nil {
				return fail(err)
			}
			name = pt.name
		}
		if tc.revision < revisionWithTimeZoneInDateTime && strings.HasPrefix(name, "DateTime(") {
			name = "DateTime"
		}
		if tc.binaryTypes {
			tc.out = append(tc.out, src[at:r.off]...)
		} else {
			tc.out = appendString(tc.out, name)
		}
		if tc.revision >= revisionWithCustomSerialization {
			tc.out = append(tc.out, 0) // default serialization
		}
		if rows == 0 {
			continue // no prefix, no data
		}
		d, err := tc.prefix(r, t, plain)
		if err == nil {
			tc.data(r, d, rows, plain)
			err = r.err
		}
		if err != nil {
			return fail(err)
		}
	}
	if r.err != nil {
		return fail(r.err)
	}
	return r.off, nil
}

// appendType writes a type of a Dynamic's prefix, named or as it came.
func (tc *nativeTranscoder) appendType(r *byteReader, at int, t *nativeType) {
	if tc.binaryTypes {
		tc.out = append(tc.out, r.b[at:r.off]...)
	} else {
		tc.out = appendString(tc.out, t.name)
	}
}

// prefix copies a column's data prefix (its serialization state) to the
// output — without LowCardinality's when plain, with Dynamic's types named —
// and returns the layout of the column's data.
func (tc *nativeTranscoder) prefix(r *byteReader, t *nativeType, plain bool) (*nativeType, error) {
	switch t.layout {
	case layoutLowCardinality:
		v := r.take(8) // keys serialization version
		if !plain {
			tc.out = append(tc.out, v...)
		}
		return t, r.err
	case layoutNullable, layoutArray, layoutTuple:
		d := *t
		d.elems = make([]*nativeType, len(t.elems))
		for i, e := range t.elems {
			var err error
			if d.elems[i], err = tc.prefix(r, e, plain); err != nil {
				return nil, err
			}
		}
		return &d, nil
	case layoutVariant:
		if mode := r.u64(); mode != 0 && r.err == nil {
			return nil, fmt.Errorf("%w: Variant discriminators mode %d", errUnsupportedType, mode)
		}
		tc.out = binary.LittleEndian.AppendUint64(tc.out, 0)
		d := &nativeType{layout: layoutVariant, elems: make([]*nativeType, len(t.elems))}
		for i, e := range t.elems {
			var err error
			if d.elems[i], err = tc.prefix(r, e, false); err != nil {
				return nil, err
			}
		}
		return d, r.err
	case layoutDynamic:
		return tc.dynamicPrefix(r)
	case layoutJSON:
		return tc.jsonPrefix(r, t)
	}
	return t, nil
}

// dynamicPrefix copies a Dynamic's prefix, its types named, and returns the
// layout of its data: V1 is a Variant of its types and SharedVariant
// (values with their binary type, as String), in the order of their names;
// flattened, its types' columns behind their indexes.
func (tc *nativeTranscoder) dynamicPrefix(r *byteReader) (*nativeType, error) {
	version := r.u64()
	tc.out = binary.LittleEndian.AppendUint64(tc.out, version)
	switch version {
	case dynamicV1:
		tc.out = binary.AppendUvarint(tc.out, r.uvarint()) // max_types, not used
	case dynamicFlattened:
	default:
		if r.err != nil {
			return nil, r.err
		}
		return nil, fmt.Errorf("%w: Dynamic serialization version %d", errUnsupportedType, version)
	}
	n := r.count()
	tc.out = binary.AppendUvarint(tc.out, n)
	types := make([]*nativeType, 0, n+1)
	for range n {
		at := r.off
		t, err := decodeType(r, 0, false)
		if err != nil {
			return nil, err
		}
		tc.appendType(r, at, t)
		types = append(types, t)
	}
	if r.err != nil {
		return nil, r.err
	}
	if version == dynamicFlattened {
		d := &nativeType{layout: layoutIndexed, elems: make([]*nativeType, len(types))}
		for i, t := range types {
			var err error
			if d.elems[i], err = tc.prefix(r, t, false); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	types = append(types, &nativeType{name: "SharedVariant", layout: layoutString})
	slices.SortStableFunc(types, func(a, b *nativeType) int { return strings.Compare(a.name, b.name) })
	return tc.prefix(r, &nativeType{layout: layoutVariant, elems: types}, false)
}

// jsonPrefix copies a JSON's prefix and returns the layout of its data: its
// typed paths, its dynamic paths (each a Dynamic) and, in V1, the other
// paths as Map(String, String), one after the other.
func (tc *nativeTranscoder) jsonPrefix(r *byteReader, t *nativeType) (*nativeType, error) {
	start := r.off
	version := r.u64()
	var paths uint64
	switch version {
	case jsonV1:
		r.uvarint() // max_dynamic_paths, not used
		paths = r.count()
	case jsonFlattened:
		paths = r.count()
	case jsonString:
		tc.out = append(tc.out, r.b[start:r.off]...)
		return &nativeType{layout: layoutString}, r.err
	default:
		if r.err != nil {
			return nil, r.err
		}
		return nil, fmt.Errorf("%w: JSON serialization version %d", errUnsupportedType, version)
	}
	for range paths {
		r.take(r.uvarint())
	}
	if r.err != nil {
		return nil, r.err
	}
	tc.out = append(tc.out, r.b[start:r.off]...)
	d := &nativeType{layout: layoutTuple}
	for _, e := range t.elems {
		pe, err := tc.prefix(r, e, false)
		if err != nil {
			return nil, err
		}
		d.elems = append(d.elems, pe)
	}
	for range paths {
		pe, err := tc.dynamicPrefix(r)
		if err != nil {
			return nil, err
		}
		d.elems = append(d.elems, pe)
	}
	if version == jsonV1 {
		d.elems = append(d.elems, sharedData)
	}
	return d, nil
}

// data copies rows values of a column of layout t — with LowCardinality made
// plain when plain.
func (tc *nativeTranscoder) data(r *byteReader, t *nativeType, rows uint64, plain bool) {
	if !plain || !t.hasLowCardinality() {
		start := r.off
		skipData(r, t, rows)
		if r.err == nil {
			tc.out = append(tc.out, r.b[start:r.off]...)
		}
		return
	}
	switch t.layout {
	case layoutLowCardinality:
		tc.plainLowCardinality(r, t, rows)
	case layoutArray:
		offsets, n := arrayElements(r, rows)
		tc.out = append(tc.out, offsets...)
		tc.data(r, t.elems[0], n, plain)
	case layoutTuple:
		for _, e := range t.elems {
			tc.data(r, e, rows, plain)
		}
	}
}

// LowCardinality's per-granule flags.
const (
	lcIndexTypeMask          = 0xff
	lcNeedGlobalDict         = 1 << 8
	lcHasAdditionalKeys      = 1 << 9
	lcMaxIndexTypeWidth      = 3 // UInt64
	lcNullKey                = 0 // a LowCardinality(Nullable)'s NULL
	variantNullDiscriminator = 255
)

// plainLowCardinality writes rows values of a LowCardinality column as its
// nested type's column: a Nullable's null map (the NULL key is 0), then the
// values.
func (tc *nativeTranscoder) plainLowCardinality(r *byteReader, t *nativeType, rows uint64) {
	dict := t.dictionary()
	nullable := t.elems[0].layout == layoutNullable
	var keys, values [][]byte
	var nulls []byte
	for done := uint64(0); done < rows && r.err == nil; {
		n, width := lcGranule(r, rows-done, func(n uint64) { keys = splitValues(r, dict, n, keys[:0]) })
		indexes := r.takeN(n, width)
		for i := range int(n) {
			if r.err != nil {
				return
			}
			k := readIndex(indexes[i*width:], width)
			if k >= uint64(len(keys)) {
				r.err = fmt.Errorf("native: LowCardinality index %d of %d keys", k, len(keys))
				return
			}
			values = append(values, keys[k])
			if nullable {
				nulls = append(nulls, b2u8(k == lcNullKey))
			}
		}
		done += n
	}
	if r.err != nil {
		return
	}
	tc.out = append(tc.out, nulls...)
	for _, v := range values {
		tc.out = append(tc.out, v...)
	}
}

// lcGranule reads the head of a LowCardinality granule of at most rows
// rows: its flags, its keys (through keys, given their count) and the number
// and width of its indexes, which follow.
func lcGranule(r *byteReader, rows uint64, keys func(n uint64)) (n uint64, width int) {
	flags := r.u64()
	if r.err != nil {
		return 0, 0
	}
	if flags&lcNeedGlobalDict != 0 || flags&lcIndexTypeMask > lcMaxIndexTypeWidth {
		r.err = fmt.Errorf("%w: LowCardinality flags %#x", errUnsupportedType, flags)
		return 0, 0
	}
	if flags&lcHasAdditionalKeys != 0 {
		keys(r.u64())
	}
	if n = r.u64(); r.err == nil && n > rows {
		r.err = fmt.Errorf("native: LowCardinality granule of %d rows in %d", n, rows)
		return 0, 0
	}
	return n, 1 << (flags & lcIndexTypeMask)
}

// arrayElements reads the offsets of rows arrays and returns them with the
// number of elements, which follow.
func arrayElements(r *byteReader, rows uint64) (offsets []byte, n uint64) {
	if rows == 0 {
		return nil, 0
	}
	if offsets = r.takeN(rows, 8); offsets == nil {
		return nil, 0
	}
	return offsets, binary.LittleEndian.Uint64(offsets[len(offsets)-8:])
}

func b2u8(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// splitValues reads n values of a fixed-width or String column, each as its
// bytes in the column.
func splitValues(r *byteReader, t *nativeType, n uint64, into [][]byte) [][]byte {
	switch t.layout {
	case layoutFixed:
		b := r.takeN(n, t.width)
		for i := range int(min(n, uint64(len(b)))) {
			if r.err != nil || t.width == 0 {
				break
			}
			into = append(into, b[i*t.width:(i+1)*t.width])
		}
	case layoutString:
		for i := uint64(0); i < n && r.err == nil; i++ {
			start := r.off
			r.take(r.uvarint())
			into = append(into, r.b[start:r.off])
		}
	default:
		r.err = fmt.Errorf("%w: LowCardinality(%s)", errUnsupportedType, t.name)
	}
	return into
}

// readIndex reads a little-endian unsigned integer of width bytes.
func readIndex(b []byte, width int) uint64 {
	switch width {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	default:
		return binary.LittleEndian.Uint64(b)
	}
}

// indexWidth is the width of a flattened Dynamic's indexes for n types (and
// NULL, n).
func indexWidth(n int) int {
	switch {
	case n < 1<<8:
		return 1
	case n < 1<<16:
		return 2
	case n < 1<<32:
		return 4
	default:
		return 8
	}
}

// countRows reads rows discriminators or indexes of width bytes and counts
// the rows of each of n kinds; null marks a NULL.
func countRows(r *byteReader, rows uint64, width, n int, null uint64) []uint64 {
	b := r.takeN(rows, width)
	if r.err != nil {
		return nil
	}
	counts := make([]uint64, n)
	for i := range int(rows) {
		k := readIndex(b[i*width:], width)
		if k == null {
			continue
		}
		if k >= uint64(n) {
			r.err = fmt.Errorf("native: discriminator %d of %d kinds", k, n)
			return nil
		}
		counts[k]++
	}
	return counts
}

// skipData reads past rows values of a column of layout t.
func skipData(r *byteReader, t *nativeType, rows uint64) {
	switch t.layout {
	case layoutFixed:
		r.takeN(rows, t.width)
	case layoutString:
		for i := uint64(0); i < rows && r.err == nil; i++ {
			r.take(r.uvarint())
		}
	case layoutNullable:
		r.take(rows)
		skipData(r, t.elems[0], rows)
	case layoutArray:
		_, n := arrayElements(r, rows)
		skipData(r, t.elems[0], n)
	case layoutTuple:
		for _, e := range t.elems {
			skipData(r, e, rows)
		}
	case layoutVariant, layoutIndexed:
		width, null := 1, uint64(variantNullDiscriminator)
		if t.layout == layoutIndexed {
			width, null = indexWidth(len(t.elems)), uint64(len(t.elems))
		}
		counts := countRows(r, rows, width, len(t.elems), null)
		for i, e := range t.elems {
			if r.err != nil {
				return
			}
			skipData(r, e, counts[i])
		}
	case layoutLowCardinality:
		for done := uint64(0); done < rows && r.err == nil; {
			n, width := lcGranule(r, rows-done, func(keys uint64) { skipData(r, t.dictionary(), keys) })
			r.takeN(n, width)
			done += n
		}
	default:
		r.err = fmt.Errorf("%w: layout %d in data", errUnsupportedType, t.layout)
	}
}
