package flow

import (
	"math/bits"

	"github.com/xgw-dev/xgw/packet"
)

// Key is one direction of a connection as its packets arrive at the
// gateway, before any rewrite: what a fast path matches on. It is
// comparable and pointer-free, so it can key maps and be hashed by value.
type Key struct {
	InPort Port // Underlay (Geneve) or External
	// VNI and InnerDst (underlay only, zero otherwise) select the gateway
	// router: tenants reuse inner addresses, never this pair.
	VNI              uint32
	InnerDst         packet.MAC
	Src, Dst         packet.IP4 // the (inner) addresses
	SrcPort, DstPort uint16     // ICMP echo: the id in both
	Proto            uint8
}

// Hash mixes every field of the key with two 64x64->128 multiplies (as
// conntrack's index does): callers take set bits from the low half and
// tags from the high.
func (k *Key) Hash() uint64 {
	a := uint64(k.Src.Uint32())<<32 | uint64(k.Dst.Uint32())
	b := uint64(k.SrcPort)<<48 | uint64(k.DstPort)<<32 | uint64(k.Proto)<<24 | uint64(k.InPort)<<16 | uint64(k.VNI&0xffff)
	c := uint64(k.VNI>>16)<<48 | uint64(k.InnerDst[0])<<40 | uint64(k.InnerDst[1])<<32 |
		uint64(k.InnerDst[2])<<24 | uint64(k.InnerDst[3])<<16 | uint64(k.InnerDst[4])<<8 | uint64(k.InnerDst[5])
	hi, lo := bits.Mul64(a^0x9e3779b97f4a7c15, b^0xbf58476d1ce4e5b9)
	hi, lo = bits.Mul64(hi^lo^c, 0x94d049bb133111eb)
	return hi ^ lo
}
