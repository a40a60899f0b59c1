package flow

import (
	"math/bits"

	"github.com/xgw-dev/xgw/packet"
)

// Key is one direction of a connection as its packets arrive at the
// gateway, before any rewrite: what a fast path matches on. It is
// comparable and pointer-free, so it can key maps and be hashed by value.
//
// Addresses are IPv4. IPv6 packets have their own Key6 and Action6
// (key6.go, action6.go) rather than a wider Key, so that IPv4 keys,
// actions and the flow cache's 128-byte IPv4 entries did not grow; a cache
// or fast path keeps the two families in separate tables. Keys are built
// with KeyOf/KeyOf6 and ReplyKey, not field by field.
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

// KeyOf is the key of the decoded packet p arriving on port in; vni and
// innerDst are the Geneve VNI and inner destination MAC (zero on the
// external side). Callers build keys here rather than field by field, so
// that a wider (IPv6) address in Key changes this function, not them.
func KeyOf(in Port, vni uint32, innerDst packet.MAC, p *packet.Parsed) Key {
	return Key{InPort: in, VNI: vni, InnerDst: innerDst,
		Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto}
}

// ReplyKey is the key of packets answering a's output, arriving on port
// in (with vni and innerDst when that is the underlay).
func (a *Action) ReplyKey(in Port, vni uint32, innerDst packet.MAC) Key {
	return Key{InPort: in, VNI: vni, InnerDst: innerDst,
		Src: a.NATDst, Dst: a.NATSrc, SrcPort: a.NATDstPort, DstPort: a.NATSrcPort, Proto: a.Key.Proto}
}
