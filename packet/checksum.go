package packet

import (
	"encoding/binary"
	"math/bits"
)

// Sum adds b to the running one's-complement sum initial (RFC 1071) and
// returns the unfolded 32-bit accumulator. An odd trailing byte is padded
// with zero, so only the last chunk of a message may have odd length.
//
// It adds 64-bit words with end-around carry (2^64-1 is a multiple of
// 0xffff, so the result is congruent to the 16-bit sum): a quarter of
// the additions of a 16-bit loop and half of a 32-bit one, which matters
// on the flow cache's hit path, where it verifies the outer UDP checksum.
func Sum(b []byte, initial uint32) uint32 {
	var s, c uint64
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[8:]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[16:]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	s, c = bits.Add64(s, uint64(initial), c)
	s, c = bits.Add64(s, 0, c)
	s += c // c was 1 only if s wrapped to 0: no further carry
	s = (s & 0xffffffff) + (s >> 32)
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	s = (s & 0xffffffff) + (s >> 32)
	s = (s & 0xffffffff) + (s >> 32)
	return uint32(s)
}

// sum20 is Sum(h, 0) for a 20-byte IPv4 header (without options), in
// five 32-bit loads and no loop.
func sum20(h []byte) uint32 {
	_ = h[19]
	s := uint64(binary.BigEndian.Uint32(h[0:])) + uint64(binary.BigEndian.Uint32(h[4:])) +
		uint64(binary.BigEndian.Uint32(h[8:])) + uint64(binary.BigEndian.Uint32(h[12:])) +
		uint64(binary.BigEndian.Uint32(h[16:]))
	s = (s & 0xffffffff) + (s >> 32) // < 2^33
	s = (s & 0xffffffff) + (s >> 32)
	return uint32(s)
}

// addrSum is the one's-complement sum of the two 16-bit words of a.
func addrSum(a IP4) uint32 {
	return (uint32(a[0])<<8 | uint32(a[1])) + (uint32(a[2])<<8 | uint32(a[3]))
}

// Fold folds a 32-bit accumulator into 16 bits (not complemented).
func Fold(s uint32) uint16 {
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return uint16(s)
}

// Checksum returns the Internet checksum of b on top of initial, ready to
// store in a header (complemented).
func Checksum(b []byte, initial uint32) uint16 { return ^Fold(Sum(b, initial)) }

// PseudoSum is the partial sum of the IPv4 pseudo-header for UDP and TCP.
func PseudoSum(src, dst IP4, proto uint8, l4len uint16) uint32 {
	// Parenthesised: in Go, | and + share a precedence level.
	return (uint32(src[0])<<8 | uint32(src[1])) + (uint32(src[2])<<8 | uint32(src[3])) +
		(uint32(dst[0])<<8 | uint32(dst[1])) + (uint32(dst[2])<<8 | uint32(dst[3])) +
		uint32(proto) + uint32(l4len)
}

// Update16 returns the checksum csum after a 16-bit field changed from old
// to new, by RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
func Update16(csum, old, new uint16) uint16 {
	s := uint32(^csum) + uint32(^old) + uint32(new)
	return ^Fold(s)
}

// Update32 is Update16 for a 32-bit field such as an IPv4 address.
func Update32(csum uint16, old, new IP4) uint16 {
	s := uint32(^csum) +
		uint32(^(uint16(old[0])<<8 | uint16(old[1]))) + uint32(^(uint16(old[2])<<8 | uint16(old[3]))) +
		uint32(uint16(new[0])<<8|uint16(new[1])) + uint32(uint16(new[2])<<8|uint16(new[3]))
	return ^Fold(s)
}

// Delta is a precomputed checksum adjustment: the one's-complement sum of
// (~old + new) over every changed 16-bit word. Apply it with Apply. It lets a
// NAT rewrite that changes several fields be folded into one update, and is
// what the XDP fast path stores per flow.
type Delta uint32

// AddUpdate16 accumulates a 16-bit field change into d.
func (d Delta) AddUpdate16(old, new uint16) Delta {
	return Delta(uint32(Fold(uint32(d) + uint32(^old) + uint32(new))))
}

// AddUpdate32 accumulates a 32-bit address change into d, in one fold:
// the result equals two AddUpdate16 calls (both are the 16-bit one's-
// complement sum, which is 0 only when every term is).
func (d Delta) AddUpdate32(old, new IP4) Delta {
	s := uint32(d) + uint32(^(uint16(old[0])<<8 | uint16(old[1]))) + uint32(^(uint16(old[2])<<8 | uint16(old[3]))) +
		addrSum(new)
	return Delta(uint32(Fold(s)))
}

// Apply returns csum adjusted by d.
func (d Delta) Apply(csum uint16) uint16 {
	return ^Fold(uint32(^csum) + uint32(d))
}

// ApplyUDP is Apply with the UDP rules of RFC 768: a zero checksum means
// "none" and stays zero; a computed zero is sent as 0xFFFF.
func (d Delta) ApplyUDP(csum uint16) uint16 {
	if csum == 0 {
		return 0
	}
	c := d.Apply(csum)
	if c == 0 {
		return 0xffff
	}
	return c
}

// UDPChecksumFinal maps a freshly computed UDP checksum to its wire form:
// zero is sent as 0xFFFF because zero means "no checksum".
func UDPChecksumFinal(c uint16) uint16 {
	if c == 0 {
		return 0xffff
	}
	return c
}
