package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// The IPv6 half of FastPath: flow.Action6 in xgw_flows6, the IPv6
// chassis in xgw_vteps6 (include/flow6.h, include/fastpath6.h). IPv6
// flows have maps of their own so that IPv4 entries keep their size.

// flagUnderlay6 is FP_F_UNDERLAY6: encap over IPv6 (Encap6's template).
const flagUnderlay6 = 0x20

// ICMPv6 echo types, the only ICMPv6 a flow carries.
const (
	icmp6EchoRequest = 128
	icmp6EchoReply   = 129
)

// Flow6 is Flow for an IPv6 flow.
type Flow6 struct {
	// Action is what the fast path does; Conns is zero. Outer.TTL and
	// Outer6.HopLimit 0 read back as geneve.DefaultTTL.
	Action flow.Action6
	// ICMPType is the one echo type (128 request, 129 reply) an ICMPv6
	// flow forwards.
	ICMPType uint8
	// Packets and Bytes count hits; Bytes are (inner) IPv6 packet
	// lengths, fixed header included.
	Packets, Bytes uint64
	LastSeenKtime  uint64
	LastSeen       time.Time
}

// Install6 adds or replaces the IPv6 flow a.Key, as Install.
func (f *FastPath) Install6(a *flow.Action6) error {
	k, v, err := encodeFlow6(a)
	if err != nil {
		return err
	}
	var old gwFpAction6
	if err := f.flows6.Lookup(&k, &old); err == nil {
		v.Packets, v.Bytes, v.LastSeen = old.Packets, old.Bytes, old.LastSeen
	}
	usedMu.Lock()
	defer usedMu.Unlock()
	if err := f.used6.Put(uint32(0), uint32(1)); err != nil {
		return fmt.Errorf("bpf: set xgw_flows6_used: %w", err)
	}
	if err := f.flows6.Update(&k, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("bpf: install flow %+v: %w", a.Key, mapErr(err))
	}
	return nil
}

// Remove6 deletes the IPv6 flow k; ErrNotFound if there is none.
func (f *FastPath) Remove6(k flow.Key6) error {
	ek := encodeKey6(k)
	usedMu.Lock()
	defer usedMu.Unlock()
	if err := f.flows6.Delete(&ek); err != nil {
		return fmt.Errorf("bpf: remove flow %+v: %w", k, mapErr(err))
	}
	return f.clearIfEmpty6(false)
}

// clearIfEmpty6 is clearIfEmpty for xgw_flows6. Called with usedMu held.
func (f *FastPath) clearIfEmpty6(orSet bool) error {
	var k gwFpKey6
	var v uint32
	err := f.flows6.NextKey(nil, &k)
	switch {
	case errors.Is(err, ebpf.ErrKeyNotExist):
		v = 0
	case err != nil:
		return fmt.Errorf("bpf: is xgw_flows6 empty: %w", err)
	case orSet:
		v = 1
	default:
		return nil
	}
	if err := f.used6.Put(uint32(0), v); err != nil {
		return fmt.Errorf("bpf: set xgw_flows6_used: %w", err)
	}
	return nil
}

// Lookup6 returns the IPv6 flow k.
func (f *FastPath) Lookup6(k flow.Key6) (Flow6, error) {
	ek := encodeKey6(k)
	var v gwFpAction6
	if err := f.flows6.Lookup(&ek, &v); err != nil {
		return Flow6{}, fmt.Errorf("bpf: lookup %+v: %w", k, mapErr(err))
	}
	return decodeFlow6(&ek, &v, ktimeOffset()), nil
}

// Flows6 iterates over every IPv6 entry with its counters, with the
// caveats of Flows (an entry may be missed or seen twice during changes).
func (f *FastPath) Flows6() iter.Seq2[Flow6, error] {
	return func(yield func(Flow6, error) bool) {
		off := ktimeOffset()
		var k gwFpKey6
		var v gwFpAction6
		it := f.flows6.Iterate()
		for it.Next(&k, &v) {
			if !yield(decodeFlow6(&k, &v, off), nil) {
				return
			}
		}
		if err := it.Err(); err != nil {
			yield(Flow6{}, fmt.Errorf("bpf: iterate IPv6 flows: %w", err))
		}
	}
}

// SetVTEPs6 is SetVTEPs for chassis with an IPv6 encap address
// (xgw_vteps6): Geneve over IPv6 from any other source punts
// (PuntUnknownVTEP). The unspecified address is skipped. IPv6 flows look
// the source up on every hit (no per-flow cache as for IPv4), so no
// generation is kept.
func (f *FastPath) SetVTEPs6(ips []packet.IP6) error {
	want := make(map[packet.IP6]bool, len(ips))
	for _, ip := range ips {
		if !ip.IsZero() {
			want[ip] = true
		}
	}
	if n := f.vteps6.MaxEntries(); len(want) > int(n) {
		return fmt.Errorf("bpf: set IPv6 VTEPs: %d addresses, the map holds %d: %w", len(want), n, ErrFull)
	}
	have, err := f.VTEPs6()
	if err != nil {
		return err
	}
	had := make(map[packet.IP6]bool, len(have))
	for _, ip := range have {
		had[ip] = true
		if want[ip] {
			continue
		}
		if err := f.vteps6.Delete([16]byte(ip)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("bpf: remove VTEP %s: %w", ip, err)
		}
	}
	for ip := range want {
		if had[ip] {
			continue
		}
		if err := f.vteps6.Put([16]byte(ip), uint32(0)); err != nil {
			return fmt.Errorf("bpf: add VTEP %s: %w", ip, mapErr(err))
		}
	}
	return nil
}

// VTEPs6 returns the set SetVTEPs6 made, in address order.
func (f *FastPath) VTEPs6() ([]packet.IP6, error) {
	var ips []packet.IP6
	var k [16]byte
	var v uint32
	it := f.vteps6.Iterate()
	for it.Next(&k, &v) {
		ips = append(ips, packet.IP6(k))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("bpf: list IPv6 VTEPs: %w", err)
	}
	slices.SortFunc(ips, packet.IP6.Compare)
	return ips, nil
}

func encodeKey6(k flow.Key6) gwFpKey6 {
	return gwFpKey6{
		Src: k.Src, Dst: k.Dst,
		Sport: be16(k.SrcPort), Dport: be16(k.DstPort),
		Vni: k.VNI, InnerDst: k.InnerDst,
		InPort: uint8(k.InPort), Proto: k.Proto,
	}
}

func decodeKey6(k *gwFpKey6) flow.Key6 {
	return flow.Key6{
		InPort: flow.Port(k.InPort), VNI: k.Vni, InnerDst: k.InnerDst,
		Src: k.Src, Dst: k.Dst,
		SrcPort: unbe16(k.Sport), DstPort: unbe16(k.Dport), Proto: k.Proto,
	}
}

// encodeFlow6 translates an Action6 into the map's key and value. The L4
// delta is accumulated in the order flow.Apply6 (rewrite6) accumulates
// it, so that the C rewrite produces the same bits, 0 vs 0xffff included.
func encodeFlow6(a *flow.Action6) (gwFpKey6, gwFpAction6, error) {
	var v gwFpAction6
	k := a.Key
	if err := checkShape(k, k.InPort, a.OutPort, a.Decap, a.Encap, k.VNI, k.InnerDst); err != nil {
		return gwFpKey6{}, v, err
	}
	switch {
	case a.Underlay6 && !a.Encap:
		return gwFpKey6{}, v, fmt.Errorf("bpf: flow %+v: an IPv6 underlay without encap", k)
	}
	switch k.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
	case packet.ProtoICMPv6:
		if k.SrcPort != k.DstPort || a.NATSrcPort != a.NATDstPort {
			return gwFpKey6{}, v, fmt.Errorf("bpf: ICMPv6 flow %+v: both ports must hold the echo id", k)
		}
		v.IcmpType = icmp6EchoRequest
		if a.Conns[0].Dir == conntrack.DirReply {
			v.IcmpType = icmp6EchoReply
		}
	default:
		return gwFpKey6{}, v, fmt.Errorf("bpf: flow %+v: protocol %d is not offloaded", k, k.Proto)
	}

	var d packet.Delta
	if a.NATSrc != k.Src {
		d = d.AddUpdate128(k.Src, a.NATSrc)
	}
	if a.NATDst != k.Dst {
		d = d.AddUpdate128(k.Dst, a.NATDst)
	}
	if a.NATSrcPort != k.SrcPort {
		d = d.AddUpdate16(k.SrcPort, a.NATSrcPort) // the echo id for ICMPv6
	}
	if k.Proto != packet.ProtoICMPv6 && a.NATDstPort != k.DstPort {
		d = d.AddUpdate16(k.DstPort, a.NATDstPort)
	}
	v.L4Delta = uint32(d)
	if a.Translates() {
		v.Flags |= flagNAT
	}
	if a.Decap {
		v.Flags |= flagDecap
	}
	if a.Outport != 0 {
		if !a.Decap {
			return gwFpKey6{}, v, fmt.Errorf("bpf: flow %+v: only Geneve flows have an outport to check", k)
		}
		v.Flags |= flagOutport
		v.Outport = a.Outport
	}
	v.MaxLen = a.MaxLen
	v.HopDec = a.HopDec
	v.OutPort = uint8(a.OutPort)
	v.NatSrc, v.NatDst = a.NATSrc, a.NATDst
	v.NatSport, v.NatDport = be16(a.NATSrcPort), be16(a.NATDstPort)
	v.EthDst, v.EthSrc = a.EthDst, a.EthSrc
	v.AddrSum = uint32(packet.Fold(packet.PseudoSum6(a.NATSrc, a.NATDst, 0, 0)))
	if a.Encap {
		v.Flags |= flagEncap
		encodeOuter6(&v, a)
	}
	return encodeKey6(k), v, nil
}

// Offsets in geneve.Encap6's template.
const (
	tpl6PayloadLen = 18
	tpl6UDP        = 54
	tpl6UDPLen     = 58
	tpl6UDPCsum    = 60
	tpl6End        = geneve.EncapLen6
)

// encodeOuter6 fills the template and its partial sums for either
// underlay family (see fp_action6).
func encodeOuter6(v *gwFpAction6, a *flow.Action6) {
	var eth [packet.EthernetLen]byte
	copy(eth[0:6], a.EthDst[:])
	copy(eth[6:12], a.EthSrc[:])
	binary.BigEndian.PutUint16(eth[12:], packet.EtherTypeIPv6)
	tpl := v.Outer[:]
	if a.Underlay6 {
		// Encap6 always sends a checksum (RFC 8200 §8.1).
		v.Flags |= flagUnderlay6 | flagOuterCsum
		p := a.Outer6
		geneve.Encap6(tpl, tpl6End, 0, &p)
		for _, off := range []int{tpl6PayloadLen, tpl6UDPLen, tpl6UDPCsum} {
			tpl[off], tpl[off+1] = 0, 0
		}
		s := packet.PseudoSum6(p.Src, p.Dst, packet.ProtoUDP, 0)
		s = packet.Sum(tpl[tpl6UDP:tpl6End], s)
		s = packet.Sum(eth[:], s)
		v.OuterUdpSum = uint32(packet.Fold(s))
		return
	}
	p := a.Outer
	if p.Checksum {
		v.Flags |= flagOuterCsum
	}
	p.Checksum = false
	geneve.Encap(tpl, tplEnd, 0, &p)
	for _, off := range []int{tplIPTotLen, tplIPCsum, tplUDPLen, tplUDPCsum} {
		tpl[off], tpl[off+1] = 0, 0
	}
	v.OuterIpSum = uint32(packet.Fold(packet.Sum(tpl[packet.EthernetLen:tplUDP], 0)))
	s := packet.PseudoSum(p.Src, p.Dst, packet.ProtoUDP, 0)
	s = packet.Sum(tpl[tplUDP:tplEnd], s)
	s = packet.Sum(eth[:], s)
	v.OuterUdpSum = uint32(packet.Fold(s))
}

// decodeFlow6 reads an entry back; off is ktimeOffset().
func decodeFlow6(k *gwFpKey6, v *gwFpAction6, off int64) Flow6 {
	a := flow.Action6{
		Key:     decodeKey6(k),
		OutPort: flow.Port(v.OutPort),
		Decap:   v.Flags&flagDecap != 0,
		Encap:   v.Flags&flagEncap != 0,
		EthSrc:  v.EthSrc, EthDst: v.EthDst,
		HopDec: v.HopDec,
		NATSrc: v.NatSrc, NATDst: v.NatDst,
		NATSrcPort: unbe16(v.NatSport), NATDstPort: unbe16(v.NatDport),
		MaxLen: v.MaxLen,
	}
	if v.Flags&flagOutport != 0 {
		a.Outport = v.Outport
	}
	t := v.Outer[:]
	switch {
	case a.Encap && v.Flags&flagUnderlay6 != 0:
		a.Underlay6 = true
		o := &a.Outer6
		copy(o.DstMAC[:], t[0:6])
		copy(o.SrcMAC[:], t[6:12])
		w := binary.BigEndian.Uint32(t[14:])
		o.TrafficClass, o.FlowLabel = uint8(w>>20), w&0xfffff
		o.HopLimit = t[21]
		copy(o.Src[:], t[22:38])
		copy(o.Dst[:], t[38:54])
		o.SrcPort = binary.BigEndian.Uint16(t[54:])
		o.VNI = uint32(t[66])<<16 | uint32(t[67])<<8 | uint32(t[68])
		o.InPort, o.OutPort = geneve.ParseOVNValue(binary.BigEndian.Uint32(t[74:]))
	case a.Encap:
		o := &a.Outer
		copy(o.DstMAC[:], t[0:6])
		copy(o.SrcMAC[:], t[6:12])
		o.TOS = t[15]
		o.ID = binary.BigEndian.Uint16(t[18:])
		o.DF = t[20]&0x40 != 0
		o.TTL = t[22]
		copy(o.Src[:], t[26:30])
		copy(o.Dst[:], t[30:34])
		o.SrcPort = binary.BigEndian.Uint16(t[34:])
		o.VNI = uint32(t[46])<<16 | uint32(t[47])<<8 | uint32(t[48])
		o.InPort, o.OutPort = geneve.ParseOVNValue(binary.BigEndian.Uint32(t[54:]))
		o.Checksum = v.Flags&flagOuterCsum != 0
	}
	return Flow6{
		Action: a, ICMPType: v.IcmpType,
		Packets: v.Packets, Bytes: v.Bytes,
		LastSeenKtime: v.LastSeen, LastSeen: ktimeToTimeAt(v.LastSeen, off),
	}
}
