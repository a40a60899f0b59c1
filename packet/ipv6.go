package packet

import "encoding/binary"

// IPv6 constants: the fixed header size, the upper-layer protocol numbers
// this package parses, and the extension headers (RFC 8200 §4, RFC 4302
// for AH, RFC 4303 for ESP) that WalkIPv6Ext knows.
const (
	IPv6Len       = 40
	ProtoHopByHop = 0
	ProtoICMPv6   = 58
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoESP      = 50
	ProtoAH       = 51
	ProtoNoNext   = 59
	ProtoDstOpts  = 60
)

// IPv6 is a view of the fixed IPv6 header (RFC 8200 §3). Extension
// headers follow it; WalkIPv6Ext reads them.
type IPv6 []byte

func (h IPv6) Version() uint8 { return h[0] >> 4 }

// TrafficClass is the 8-bit DSCP+ECN field, the TOS of IPv4.
func (h IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(h[0:]) >> 4) }

// FlowLabel is the 20-bit flow label.
func (h IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(h[0:]) & 0xfffff }

// PayloadLength is the length after the fixed header, extension headers
// included.
func (h IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(h[4:]) }
func (h IPv6) NextHeader() uint8     { return h[6] }
func (h IPv6) HopLimit() uint8       { return h[7] }
func (h IPv6) Src() (a IP6)          { copy(a[:], h[8:24]); return }
func (h IPv6) Dst() (a IP6)          { copy(a[:], h[24:40]); return }

func (h IPv6) SetTrafficClass(tc uint8) {
	v := binary.BigEndian.Uint16(h[0:])&0xf00f | uint16(tc)<<4
	binary.BigEndian.PutUint16(h[0:], v)
}

func (h IPv6) SetFlowLabel(l uint32) {
	v := binary.BigEndian.Uint32(h[0:])&^0xfffff | l&0xfffff
	binary.BigEndian.PutUint32(h[0:], v)
}

func (h IPv6) SetPayloadLength(l uint16) { binary.BigEndian.PutUint16(h[4:], l) }
func (h IPv6) SetNextHeader(p uint8)     { h[6] = p }
func (h IPv6) SetHopLimit(t uint8)       { h[7] = t }

// SetSrc and SetDst rewrite an address. IPv6 has no header checksum: the
// caller patches the transport checksum (Delta.AddUpdate128, Update128).
func (h IPv6) SetSrc(a IP6) { copy(h[8:24], a[:]) }
func (h IPv6) SetDst(a IP6) { copy(h[24:40], a[:]) }

// DecHopLimit decrements the hop limit by one; the caller checks > 1
// first. Nothing else changes: no header checksum.
func (h IPv6) DecHopLimit() { h[7]-- }

// IPv6Fields are the values to write a fresh fixed header.
type IPv6Fields struct {
	TrafficClass  uint8
	FlowLabel     uint32 // low 20 bits used
	PayloadLength uint16
	NextHeader    uint8
	HopLimit      uint8
	Src, Dst      IP6
}

// Encode writes the 40-byte fixed header into h.
func (h IPv6) Encode(f IPv6Fields) {
	binary.BigEndian.PutUint32(h[0:], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(h[4:], f.PayloadLength)
	h[6] = f.NextHeader
	h[7] = f.HopLimit
	copy(h[8:24], f.Src[:])
	copy(h[24:40], f.Dst[:])
}

// IPv6FragmentLen is the size of the fragment extension header.
const IPv6FragmentLen = 8

// IPv6Fragment is a view of the fragment extension header (RFC 8200 §4.5).
type IPv6Fragment []byte

func (f IPv6Fragment) NextHeader() uint8 { return f[0] }

// FragOffset is the 13-bit offset in 8-byte units, as IPv4.FragOffset.
func (f IPv6Fragment) FragOffset() uint16 { return binary.BigEndian.Uint16(f[2:]) >> 3 }

// MoreFragments is the M flag.
func (f IPv6Fragment) MoreFragments() bool { return f[3]&1 != 0 }

// ID is the 32-bit identification.
func (f IPv6Fragment) ID() uint32 { return binary.BigEndian.Uint32(f[4:]) }

// IsFragment reports whether this is a real fragment; an atomic fragment
// (offset 0, M clear; RFC 6946) is a whole datagram.
func (f IPv6Fragment) IsFragment() bool { return binary.BigEndian.Uint16(f[2:])&0xfff9 != 0 }

// IPv6FragmentFields are the values to write a fragment header.
type IPv6FragmentFields struct {
	NextHeader uint8
	Offset     uint16 // in 8-byte units, 13 bits
	More       bool
	ID         uint32
}

// Encode writes the 8-byte fragment header into f (reserved bits zero).
func (f IPv6Fragment) Encode(v IPv6FragmentFields) {
	f[0], f[1] = v.NextHeader, 0
	o := v.Offset << 3
	if v.More {
		o |= 1
	}
	binary.BigEndian.PutUint16(f[2:], o)
	binary.BigEndian.PutUint32(f[4:], v.ID)
}
