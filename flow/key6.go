package flow

import (
	"encoding/binary"
	"math/bits"

	"github.com/xgw-dev/xgw/packet"
)

// Key6 is Key for IPv6 (inner) packets: one direction of a connection as
// its packets arrive, before any rewrite. It is a type of its own rather
// than a wider Key so that IPv4 keys, actions and the flow cache's
// 128-byte IPv4 entries keep their size; a cache or fast path holds the
// two families in separate tables (the XDP program: xgw_flows and
// xgw_flows6). Comparable and pointer-free, like Key.
type Key6 struct {
	InPort Port // Underlay (Geneve, over either underlay family) or External
	Proto  uint8
	// SrcPort and DstPort: ICMPv6 echo: the id in both.
	SrcPort, DstPort uint16
	// VNI and InnerDst (underlay only, zero otherwise) select the
	// gateway router, as in Key.
	VNI      uint32
	InnerDst packet.MAC
	Src, Dst packet.IP6 // the (inner) addresses
}

// Hash mixes every field of the key as Key.Hash does: callers take set
// bits from the low half and tags from the high.
func (k *Key6) Hash() uint64 {
	s0, s1 := binary.LittleEndian.Uint64(k.Src[:8]), binary.LittleEndian.Uint64(k.Src[8:])
	d0, d1 := binary.LittleEndian.Uint64(k.Dst[:8]), binary.LittleEndian.Uint64(k.Dst[8:])
	b := uint64(k.SrcPort)<<48 | uint64(k.DstPort)<<32 | uint64(k.Proto)<<24 | uint64(k.InPort)<<16 | uint64(k.VNI&0xffff)
	c := uint64(k.VNI>>16)<<48 | uint64(k.InnerDst[0])<<40 | uint64(k.InnerDst[1])<<32 |
		uint64(k.InnerDst[2])<<24 | uint64(k.InnerDst[3])<<16 | uint64(k.InnerDst[4])<<8 | uint64(k.InnerDst[5])
	hi, lo := bits.Mul64(s0^0x9e3779b97f4a7c15, d0^0xbf58476d1ce4e5b9)
	hi, lo = bits.Mul64(hi^lo^s1, d1^b^0x94d049bb133111eb)
	hi, lo = bits.Mul64(hi^lo^c, 0x94d049bb133111eb)
	return hi ^ lo
}

// KeyOf6 is the key of the IPv6 packet p (decoded by DecodeDual, Family
// 6) arriving on port in; vni and innerDst as for KeyOf.
func KeyOf6(in Port, vni uint32, innerDst packet.MAC, p *packet.Parsed) Key6 {
	return Key6{InPort: in, VNI: vni, InnerDst: innerDst,
		Src: p.Src6, Dst: p.Dst6, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto}
}

// ReplyKey is the key of packets answering a's output, arriving on port
// in (with vni and innerDst when that is the underlay).
func (a *Action6) ReplyKey(in Port, vni uint32, innerDst packet.MAC) Key6 {
	return Key6{InPort: in, VNI: vni, InnerDst: innerDst,
		Src: a.NATDst, Dst: a.NATSrc, SrcPort: a.NATDstPort, DstPort: a.NATSrcPort, Proto: a.Key.Proto}
}
