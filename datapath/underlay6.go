package datapath

import (
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// fromUnderlayIPv6 handles a frame on the underlay whose outer header is
// IPv6, when the topology has an IPv6 VTEP (topo.VTEP6): Geneve over IPv6
// to it from a known IPv6 chassis, with a valid outer UDP checksum, is
// decapsulated (DecapDual) and its inner IPv6 frame goes through
// fromUnderlay6; anything else is the kernel's. An inner IPv4 or ARP frame
// over the IPv6 underlay is not wired yet (unsupported).
func (w *Worker) fromUnderlayIPv6(c *pktCtx) Drop {
	pkt, pl, d := c.pkt, c.pl, &c.dec
	frame := pkt.Frame()
	c.v6 = true
	switch geneve.DecapDual(frame, d) {
	case geneve.OK:
	case geneve.NotGeneve:
		pass(pkt)
		return DropNone
	case geneve.ErrCriticalOption:
		return DropGeneveCritical
	default:
		return DropGeneve
	}
	if !d.IPv6 || d.OuterDst6 != pl.topo.VTEP6 {
		pass(pkt)
		return DropNone
	}
	if packet.Ethernet(frame).EtherType() == packet.EtherTypeVLAN {
		return DropVLAN
	}
	if !pl.chassis6[d.OuterSrc6] {
		return DropGeneveSource
	}
	if !geneve.VerifyUDPChecksum(frame, d) {
		return DropGeneveChecksum
	}
	inner := frame[d.InnerOff:d.End]
	if len(inner) < packet.EthernetLen {
		return DropMalformed
	}
	if packet.Ethernet(inner).EtherType() != packet.EtherTypeIPv6 {
		return DropUnsupported // IPv4 and ARP over an IPv6 underlay: not yet
	}
	return w.fromUnderlay6(c, inner, d)
}

// encap6 is encap over the IPv6 underlay: the frame at pkt.Off goes to
// the chassis at vtep (MAC dstMAC) from topo.VTEP6.
func (w *Worker) encap6(c *pktCtx, dstMAC packet.MAC, vtep packet.IP6, sport uint16, vni uint32, inport, outport uint16) Drop {
	pkt, topo := c.pkt, c.pl.topo
	if pkt.Off < geneve.EncapLen6 {
		return DropHeadroom
	}
	pkt.Off = geneve.Encap6(pkt.Buf, pkt.Off, pkt.Len, &geneve.EncapParams6{
		SrcMAC: w.p.underlayMAC, DstMAC: dstMAC,
		Src: topo.VTEP6, Dst: vtep, HopLimit: topo.GeneveTTL,
		SrcPort: sport, VNI: vni, InPort: inport, OutPort: outport,
	})
	pkt.Len += geneve.EncapLen6
	tx(pkt, flow.Underlay)
	return DropNone
}
