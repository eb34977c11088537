// Package gguf reads the metadata and tensor directory of a GGUF file (the
// llama.cpp model and adapter format) in plain Go, and the data of its F32
// and F16 tensors. It is what the adapter tools need without loading a
// model: quantized tensors are listed but not decoded.
//
// Layout (little-endian): "GGUF", version u32 (2 or 3), tensor count u64,
// key/value count u64; the key/value pairs (key: u64 length + bytes; value
// type u32; value); the tensor directory (name, dimension count u32, dims
// u64 each, ggml type u32, offset u64 relative to the data section); the
// data section, starting at the next multiple of general.alignment (32 by
// default).
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// ggml tensor types this package decodes.
const (
	TypeF32 = 0
	TypeF16 = 1
)

// value types of the key/value section
const (
	tUint8, tInt8, tUint16, tInt16, tUint32, tInt32, tFloat32, tBool, tString, tArray, tUint64, tInt64, tFloat64 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
)

// Tensor describes one tensor. Dims are in ggml order: Dims[0] is the
// length of a row (the fastest-varying index).
type Tensor struct {
	Name   string
	Dims   []uint64
	Type   uint32
	Offset uint64 // from the start of the data section
}

// Elements is the number of values in the tensor.
func (t Tensor) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is an open GGUF file.
type File struct {
	Version uint32
	// KV holds the metadata: uint8..int64, float32/64, bool and string
	// values as those Go types; arrays as []any.
	KV      map[string]any
	Tensors []Tensor
	f       *os.File
	data    int64 // offset of the data section
	size    int64
}

// Open reads the header, metadata and tensor directory of path.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	g, err := parse(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Close closes the file.
func (g *File) Close() error { return g.f.Close() }

type reader struct {
	r   *bufio.Reader
	n   int64
	err error
}

func (r *reader) read(p []byte) {
	if r.err != nil {
		return
	}
	var k int
	k, r.err = io.ReadFull(r.r, p)
	r.n += int64(k)
}

func (r *reader) u32() uint32 {
	var b [4]byte
	r.read(b[:])
	return binary.LittleEndian.Uint32(b[:])
}

func (r *reader) u64() uint64 {
	var b [8]byte
	r.read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// maxString bounds strings and arrays so a corrupt length fails cleanly.
const maxString = 1 << 30

func (r *reader) str() string {
	n := r.u64()
	if r.err == nil && n > maxString {
		r.err = fmt.Errorf("string of %d bytes", n)
	}
	if r.err != nil {
		return ""
	}
	b := make([]byte, n)
	r.read(b)
	return string(b)
}

func (r *reader) value(typ uint32, depth int) any {
	var b [8]byte
	switch typ {
	case tUint8:
		r.read(b[:1])
		return b[0]
	case tInt8:
		r.read(b[:1])
		return int8(b[0])
	case tUint16:
		r.read(b[:2])
		return binary.LittleEndian.Uint16(b[:2])
	case tInt16:
		r.read(b[:2])
		return int16(binary.LittleEndian.Uint16(b[:2]))
	case tUint32:
		return r.u32()
	case tInt32:
		return int32(r.u32())
	case tFloat32:
		return math.Float32frombits(r.u32())
	case tBool:
		r.read(b[:1])
		return b[0] != 0
	case tString:
		return r.str()
	case tUint64:
		return r.u64()
	case tInt64:
		return int64(r.u64())
	case tFloat64:
		return math.Float64frombits(r.u64())
	case tArray:
		et, n := r.u32(), r.u64()
		if r.err == nil && (n > maxString || depth > 2) {
			r.err = fmt.Errorf("array of %d values", n)
		}
		if r.err != nil {
			return nil
		}
		out := make([]any, 0, min(n, 1<<16))
		for i := uint64(0); i < n && r.err == nil; i++ {
			out = append(out, r.value(et, depth+1))
		}
		return out
	}
	if r.err == nil {
		r.err = fmt.Errorf("unknown value type %d", typ)
	}
	return nil
}

func parse(f *os.File) (*File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r := &reader{r: bufio.NewReaderSize(f, 1<<16)}
	var magic [4]byte
	r.read(magic[:])
	if r.err != nil || string(magic[:]) != "GGUF" {
		return nil, errors.New("not a GGUF file")
	}
	g := &File{f: f, KV: map[string]any{}, size: st.Size()}
	g.Version = r.u32()
	if g.Version < 2 || g.Version > 3 {
		return nil, fmt.Errorf("GGUF version %d is not supported (2 or 3)", g.Version)
	}
	nt, nkv := r.u64(), r.u64()
	if r.err == nil && (nt > 1<<24 || nkv > 1<<24) {
		return nil, fmt.Errorf("corrupt header: %d tensors, %d keys", nt, nkv)
	}
	for i := uint64(0); i < nkv && r.err == nil; i++ {
		k := r.str()
		g.KV[k] = r.value(r.u32(), 0)
	}
	for i := uint64(0); i < nt && r.err == nil; i++ {
		t := Tensor{Name: r.str()}
		nd := r.u32()
		if nd > 4 {
			return nil, fmt.Errorf("tensor %q has %d dimensions", t.Name, nd)
		}
		for d := uint32(0); d < nd; d++ {
			t.Dims = append(t.Dims, r.u64())
		}
		t.Type, t.Offset = r.u32(), r.u64()
		g.Tensors = append(g.Tensors, t)
	}
	if r.err != nil {
		return nil, fmt.Errorf("truncated or corrupt header: %w", r.err)
	}
	align := int64(32)
	if a, ok := g.KV["general.alignment"].(uint32); ok && a > 0 {
		align = int64(a)
	}
	g.data = (r.n + align - 1) / align * align
	return g, nil
}

// Tensor returns the tensor called name.
func (g *File) Tensor(name string) (Tensor, bool) {
	for _, t := range g.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// String returns a string value of the metadata ("" when absent).
func (g *File) String(key string) string {
	s, _ := g.KV[key].(string)
	return s
}

// Int returns an integer value of the metadata of any integer type.
func (g *File) Int(key string) (int64, bool) {
	switch v := g.KV[key].(type) {
	case uint8:
		return int64(v), true
	case int8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case int16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case int32:
		return int64(v), true
	case uint64:
		return int64(v), true
	case int64:
		return v, true
	}
	return 0, false
}

// Float returns a float value of the metadata.
func (g *File) Float(key string) (float64, bool) {
	switch v := g.KV[key].(type) {
	case float32:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// ReadF32 returns the values of an F32 or F16 tensor, in file order.
func (g *File) ReadF32(t Tensor) ([]float32, error) {
	var size uint64
	switch t.Type {
	case TypeF32:
		size = 4
	case TypeF16:
		size = 2
	default:
		return nil, fmt.Errorf("tensor %s: ggml type %d is not F32 or F16", t.Name, t.Type)
	}
	n := t.Elements()
	start := g.data + int64(t.Offset)
	if start < g.data || uint64(g.size-start) < n*size {
		return nil, fmt.Errorf("tensor %s: data lies outside the file", t.Name)
	}
	raw := make([]byte, n*size)
	if _, err := g.f.ReadAt(raw, start); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	out := make([]float32, n)
	for i := range out {
		if size == 4 {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		} else {
			out[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	}
	return out, nil
}

// halfToFloat converts an IEEE 754 binary16 value.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		f := float32(frac) / 1024 * float32(math.Pow(2, -14))
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}
