package geneve

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/packet"
)

// FlowHash6 is FlowHash for an IPv6 inner flow. Each address is first
// folded to 32 bits the way Linux's ipv6_addr_hash does (the XOR of its
// four big-endian words, include/net/ipv6.h), so the XDP fast path can
// compute the same value:
//
//	a = w0^w1^w2^w3 of src (bpf_ntohl of each word)
//	b = the same for dst
//	hash = jhash_3words(a, b, sport<<16 | dport, proto)
func FlowHash6(src, dst packet.IP6, sport, dport uint16, proto uint8) uint32 {
	return jhash3(fold6(src), fold6(dst), uint32(sport)<<16|uint32(dport), uint32(proto))
}

func fold6(a packet.IP6) uint32 {
	return binary.BigEndian.Uint32(a[0:]) ^ binary.BigEndian.Uint32(a[4:]) ^
		binary.BigEndian.Uint32(a[8:]) ^ binary.BigEndian.Uint32(a[12:])
}
