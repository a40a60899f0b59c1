package flow

import (
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

// Applicable reports whether Apply can run a on a packet whose (inner)
// TTL is ttl and whose inner frame starts innerStart bytes into its
// buffer: a fast path punts packets whose TTL would run out (the pipeline
// answers them) and, for encap, needs headroom for the outer headers.
func (a *Action) Applicable(ttl uint8, innerStart int) bool {
	return ttl > a.TTLDec && (!a.Encap || innerStart >= geneve.EncapLen)
}

// Apply does a to the packet whose (inner, decapsulated) frame is
// buf[off:off+n], already decoded into p: NAT with incremental checksums,
// TTL decrement, the routed L2 header, and the outer headers when a
// encapsulates. It returns where the frame to transmit now starts and its
// length. The caller checked Applicable. The XDP program's fp_forward
// (bpf/include/fastpath.h) is the same function in C; bpf's tests hold
// the two byte for byte equal.
func Apply(a *Action, buf []byte, off, n int, p *packet.Parsed) (int, int) {
	l3 := buf[off : off+n]
	if a.Translates() {
		nat.Rewrite(l3, p, a.Target())
	}
	ip := p.IP(l3)
	for i := uint8(0); i < a.TTLDec; i++ {
		ip.DecTTL()
	}
	eth := packet.Ethernet(l3)
	eth.SetSrc(a.EthSrc)
	eth.SetDst(a.EthDst)
	if a.Encap {
		off = geneve.Encap(buf, off, n, &a.Outer)
		n += geneve.EncapLen
	}
	return off, n
}
