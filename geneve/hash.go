package geneve

import (
	"math/bits"

	"github.com/xgw-dev/xgw/packet"
)

// jhashInitval is JHASH_INITVAL from Linux include/linux/jhash.h.
const jhashInitval = 0xdeadbeef

// FlowHash hashes an inner 5-tuple for the outer UDP source port. It is
// Linux's jhash_3words (include/linux/jhash.h), so the XDP fast path can
// compute the same value with the kernel's own jhash.h:
//
//	a = src as a big-endian integer   (bpf_ntohl(iph->saddr))
//	b = dst as a big-endian integer   (bpf_ntohl(iph->daddr))
//	c = sport<<16 | dport             (host-order ports)
//	hash = jhash_3words(a, b, c, proto)
//
// where jhash_3words(a, b, c, initval) adds initval+0xdeadbeef+12 to a, b
// and c and returns c after __jhash_final. There is no random seed: runs
// and the C side must agree. It is not symmetric, nor needs to be.
func FlowHash(src, dst packet.IP4, sport, dport uint16, proto uint8) uint32 {
	return jhash3(src.Uint32(), dst.Uint32(), uint32(sport)<<16|uint32(dport), uint32(proto))
}

// jhash3 is jhash_3words: __jhash_nwords with initval+JHASH_INITVAL+(3<<2).
func jhash3(a, b, c, initval uint32) uint32 {
	iv := initval + jhashInitval + 3<<2
	a += iv
	b += iv
	c += iv
	// __jhash_final
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c
}

// Source port range for tunnel entropy: the IANA dynamic range, which
// RFC 8926 §3.3 says the hashed source port SHOULD fall in.
const (
	SourcePortMin = 49152
	SourcePortMax = 65535
)

// SourcePort maps a flow hash into SourcePortMin..SourcePortMax the way
// Linux udp_flow_src_port does: fold the low half into the high half (the
// upper bits decide the port, and this hides raw hash bits on the wire),
// then scale with a multiply-shift instead of a modulo. Unlike Linux, whose
// span max-min never yields max itself, the span here is inclusive.
func SourcePort(hash uint32) uint16 {
	hash ^= hash << 16
	const span = SourcePortMax - SourcePortMin + 1
	return uint16(uint64(hash)*span>>32) + SourcePortMin
}
