package packet

import "encoding/binary"

// PseudoSum6 is the partial sum of the IPv6 pseudo-header (RFC 8200 §8.1)
// for TCP, UDP and ICMPv6: both addresses, the upper-layer length as 32
// bits and the next header value. proto is the upper-layer protocol, not
// the fixed header's Next Header when extension headers sit between.
func PseudoSum6(src, dst IP6, proto uint8, l4len uint32) uint32 {
	// Each 32-bit half is added as two 16-bit words; 8 words of at most
	// 0x1fffe each and the rest stay far below 2^32.
	var s uint32
	for i := 0; i < 16; i += 4 {
		a := binary.BigEndian.Uint32(src[i:])
		b := binary.BigEndian.Uint32(dst[i:])
		s += a>>16 + a&0xffff + b>>16 + b&0xffff
	}
	return s + l4len>>16 + l4len&0xffff + uint32(proto)
}

// Update128 is Update16 for a 128-bit field, an IPv6 address: the
// transport checksum after NAT66 rewrote src or dst.
func Update128(csum uint16, old, new IP6) uint16 {
	return Delta(0).AddUpdate128(old, new).Apply(csum)
}

// AddUpdate128 accumulates a 128-bit address change into d.
func (d Delta) AddUpdate128(old, new IP6) Delta {
	s := uint32(d)
	for i := 0; i < 16; i += 4 {
		o := binary.BigEndian.Uint32(old[i:])
		n := binary.BigEndian.Uint32(new[i:])
		s += uint32(^uint16(o>>16)) + uint32(^uint16(o)) + n>>16 + n&0xffff
	}
	return Delta(uint32(Fold(s)))
}

// ComputeChecksum6 is ComputeChecksum with the IPv6 pseudo-header.
func (t TCP) ComputeChecksum6(src, dst IP6) uint16 {
	t.SetChecksum(0)
	return Checksum(t, PseudoSum6(src, dst, ProtoTCP, uint32(len(t))))
}

// ComputeChecksum6 is ComputeChecksum with the IPv6 pseudo-header, in
// wire form: over IPv6 a zero checksum is not allowed (RFC 8200 §8.1), so
// a computed zero is sent as 0xFFFF as over IPv4.
func (u UDP) ComputeChecksum6(src, dst IP6) uint16 {
	u.SetChecksum(0)
	return UDPChecksumFinal(Checksum(u, PseudoSum6(src, dst, ProtoUDP, uint32(len(u)))))
}

// L4ChecksumValid6 reports whether the TCP, UDP or ICMPv6 segment seg
// (header and payload, exactly) verifies with the IPv6 pseudo-header. A
// UDP checksum of zero fails: it means "none", which IPv6 forbids
// (RFC 8200 §8.1; RFC 6936 tunnels decide that for themselves).
func L4ChecksumValid6(seg []byte, src, dst IP6, proto uint8) bool {
	if proto == ProtoUDP && len(seg) >= UDPLen && UDP(seg).Checksum() == 0 {
		return false
	}
	return Fold(Sum(seg, PseudoSum6(src, dst, proto, uint32(len(seg))))) == 0xffff
}
