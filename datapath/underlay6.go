package datapath

import (
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// fromUnderlayIPv6 handles a frame on the underlay whose outer header is
// IPv6, when the topology has an IPv6 VTEP (topo.VTEP6): Geneve over IPv6
// to it from a known IPv6 chassis, with a valid outer UDP checksum, is
// decapsulated (DecapDual) and its inner frame (IPv4, ARP or IPv6) goes
// through fromInner as over the IPv4 underlay; anything else is the
// kernel's. Nothing that came over the IPv6 underlay is learnt by the flow
// cache or offloaded (c.v6): flow keys and actions describe IPv4 outer
// headers only, and the answers go back over IPv6 (encap by the chassis'
// family).
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
	return w.fromInner(c, frame[d.InnerOff:d.End], d)
}
