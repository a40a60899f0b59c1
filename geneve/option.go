package geneve

import (
	"encoding/binary"
	"errors"
)

// OVN's metadata option (ovn-architecture(7), "Tunnel Encapsulations"):
// class 0x0102 (Open vSwitch), type 0x80 (critical), 4 bytes of data holding
// 1 reserved bit, the 15-bit logical ingress port key and the 16-bit logical
// egress port key.
const (
	OVNClass     = 0x0102
	OVNType      = 0x80
	OVNOptionLen = 4 // data bytes, excluding the 4-byte option header
)

// OptionHeaderLen is the size of a TLV header (RFC 8926 §3.5).
const OptionHeaderLen = 4

// typeCritical is the high bit of an option type (RFC 8926 §3.5).
const typeCritical = 0x80

// ErrMalformedOption is what OptionIter.Err returns when a TLV's length runs
// past the options area. Decap reports it as ErrBadOption.
var ErrMalformedOption = errors.New("geneve: option overruns the options area")

// Option is one TLV. Data aliases the frame.
type Option struct {
	Class uint16
	Type  uint8
	Data  []byte
}

// Critical reports the type's critical bit: an endpoint that does not
// understand the option must drop the packet (RFC 8926 §3.5).
func (o Option) Critical() bool { return o.Type&typeCritical != 0 }

// IsOVN reports whether o is OVN's metadata option, whatever its length.
func (o Option) IsOVN() bool { return o.Class == OVNClass && o.Type == OVNType }

// Options is a view of the options area: a sequence of TLVs.
type Options []byte

// Iter returns an iterator over the TLVs in o. It is a value, so walking
// the options allocates nothing.
func (o Options) Iter() OptionIter { return OptionIter{rest: o} }

// OptionIter walks TLVs: for it := opts.Iter(); it.Next(); { it.Option() }.
// After Next returns false, Err says whether the walk ended on a malformed
// TLV rather than at the end of the area.
type OptionIter struct {
	rest Options
	cur  Option
	err  error
}

// Next advances to the next TLV and reports whether there is one.
func (it *OptionIter) Next() bool {
	if len(it.rest) == 0 || it.err != nil {
		return false
	}
	if len(it.rest) < OptionHeaderLen {
		it.err = ErrMalformedOption
		return false
	}
	// Byte 3: 3 reserved bits (ignored on receipt, §3.5), 5 bits of length
	// in 4-byte words, not counting the option header.
	n := OptionHeaderLen + int(it.rest[3]&0x1f)*4
	if n > len(it.rest) {
		it.err = ErrMalformedOption
		return false
	}
	it.cur = Option{
		Class: binary.BigEndian.Uint16(it.rest),
		Type:  it.rest[2],
		Data:  it.rest[OptionHeaderLen:n:n],
	}
	it.rest = it.rest[n:]
	return true
}

// Option is the TLV Next moved to.
func (it *OptionIter) Option() Option { return it.cur }

// Err is nil if the walk reached the end of the area cleanly.
func (it *OptionIter) Err() error { return it.err }

// OVNValue packs OVN port keys into the option's 32-bit value. Bit 31 is
// reserved, so inport is cut to 15 bits, as OVN itself reads it.
func OVNValue(inport, outport uint16) uint32 {
	return uint32(inport&0x7fff)<<16 | uint32(outport)
}

// ParseOVNValue is the inverse of OVNValue.
func ParseOVNValue(v uint32) (inport, outport uint16) {
	return uint16(v>>16) & 0x7fff, uint16(v)
}

// putOVNOption writes the 8-byte OVN option into b.
func putOVNOption(b []byte, inport, outport uint16) {
	binary.BigEndian.PutUint16(b, OVNClass)
	b[2] = OVNType
	b[3] = OVNOptionLen / 4
	binary.BigEndian.PutUint32(b[4:], OVNValue(inport, outport))
}
