package packet

import "encoding/binary"

// IPv4 constants.
const (
	IPv4MinLen   = 20
	IPv4MaxLen   = 60
	ProtoICMP    = 1
	ProtoTCP     = 6
	ProtoUDP     = 17
	ipv4FlagDF   = 0x4000
	ipv4FlagMF   = 0x2000
	ipv4FragMask = 0x1fff
)

// IPv4 is a view of an IPv4 header, options included.
type IPv4 []byte

func (h IPv4) Version() uint8     { return h[0] >> 4 }
func (h IPv4) HeaderLen() int     { return int(h[0]&0x0f) * 4 }
func (h IPv4) TOS() uint8         { return h[1] }
func (h IPv4) TotalLen() uint16   { return binary.BigEndian.Uint16(h[2:]) }
func (h IPv4) ID() uint16         { return binary.BigEndian.Uint16(h[4:]) }
func (h IPv4) FlagsFrag() uint16  { return binary.BigEndian.Uint16(h[6:]) }
func (h IPv4) DontFragment() bool { return h.FlagsFrag()&ipv4FlagDF != 0 }
func (h IPv4) MoreFragments() bool {
	return h.FlagsFrag()&ipv4FlagMF != 0
}
func (h IPv4) FragOffset() uint16 { return h.FlagsFrag() & ipv4FragMask }

// IsFragment reports whether this is any fragment (first, middle or last).
func (h IPv4) IsFragment() bool { return h.FlagsFrag()&(ipv4FlagMF|ipv4FragMask) != 0 }

func (h IPv4) TTL() uint8           { return h[8] }
func (h IPv4) Protocol() uint8      { return h[9] }
func (h IPv4) Checksum() uint16     { return binary.BigEndian.Uint16(h[10:]) }
func (h IPv4) Src() (a IP4)         { copy(a[:], h[12:16]); return }
func (h IPv4) Dst() (a IP4)         { copy(a[:], h[16:20]); return }
func (h IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(h[10:], c) }
func (h IPv4) SetTotalLen(l uint16) { binary.BigEndian.PutUint16(h[2:], l) }

// SetSrc rewrites the source address and patches the header checksum.
func (h IPv4) SetSrc(a IP4) {
	h.SetChecksum(Update32(h.Checksum(), h.Src(), a))
	copy(h[12:16], a[:])
}

// SetDst rewrites the destination address and patches the header checksum.
func (h IPv4) SetDst(a IP4) {
	h.SetChecksum(Update32(h.Checksum(), h.Dst(), a))
	copy(h[16:20], a[:])
}

// DecTTL decrements the TTL by one and patches the header checksum. The
// caller checks TTL > 1 first.
func (h IPv4) DecTTL() {
	// The new TTL/protocol word is computed, not read back: a 16-bit load
	// over the byte just stored would wait for the store to complete.
	old := binary.BigEndian.Uint16(h[8:])
	h[8] = uint8(old>>8) - 1
	h.SetChecksum(Update16(h.Checksum(), old, old-0x100))
}

// ComputeChecksum recomputes the header checksum from scratch.
func (h IPv4) ComputeChecksum() {
	h.SetChecksum(0)
	h.SetChecksum(Checksum(h[:h.HeaderLen()], 0))
}

// ChecksumValid reports whether the header checksum verifies. The common
// option-less header is summed in five loads (it is checked on every
// packet the flow cache forwards).
func (h IPv4) ChecksumValid() bool {
	if h[0]&0x0f == 5 && len(h) >= IPv4MinLen {
		return Fold(sum20(h[:IPv4MinLen])) == 0xffff
	}
	return Fold(Sum(h[:h.HeaderLen()], 0)) == 0xffff
}

// IPv4Fields are the values to write a fresh, option-less IPv4 header.
type IPv4Fields struct {
	TOS      uint8
	TotalLen uint16
	ID       uint16
	DF       bool
	TTL      uint8
	Protocol uint8
	Src, Dst IP4
}

// Encode writes a 20-byte header with a valid checksum into h.
func (h IPv4) Encode(f IPv4Fields) {
	h[0] = 0x45
	h[1] = f.TOS
	binary.BigEndian.PutUint16(h[2:], f.TotalLen)
	binary.BigEndian.PutUint16(h[4:], f.ID)
	var ff uint16
	if f.DF {
		ff = ipv4FlagDF
	}
	binary.BigEndian.PutUint16(h[6:], ff)
	h[8] = f.TTL
	h[9] = f.Protocol
	copy(h[12:16], f.Src[:])
	copy(h[16:20], f.Dst[:])
	// The checksum is summed from the fields, not read back from h: loads
	// over bytes just stored would wait for the stores to complete.
	s := uint32(0x4500|uint16(f.TOS)) + uint32(f.TotalLen) + uint32(f.ID) + uint32(ff) +
		(uint32(f.TTL)<<8 | uint32(f.Protocol)) + addrSum(f.Src) + addrSum(f.Dst)
	h.SetChecksum(^Fold(s))
}
