package datapath

import (
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// decapIPv6 is fromUnderlay's outer half for a frame on the underlay whose
// outer header is IPv6, when the topology has an IPv6 VTEP (topo.VTEP6):
// Geneve over IPv6 to it from a known IPv6 chassis, with a valid outer UDP
// checksum, is decapsulated (DecapDual) into c.dec and ours is true:
// fromUnderlay then walks its inner frame (ARP, IPv4 or IPv6) as over the
// IPv4 underlay. Anything else is the kernel's (pass) or a drop, with ours
// false. Only its inner IPv6 is cached and offloaded (c.underlay6:
// flow.Action6 has an IPv6 outer header, flow.Action not); the answers
// go back over IPv6 (encap by the chassis' family).
func (w *Worker) decapIPv6(c *pktCtx) (why Drop, ours bool) {
	pkt, pl, d := c.pkt, c.pl, &c.dec
	frame := pkt.Frame()
	c.underlay6 = true
	switch geneve.DecapDual(frame, d) {
	case geneve.OK:
	case geneve.NotGeneve:
		pass(pkt)
		return DropNone, false
	case geneve.ErrCriticalOption:
		return DropGeneveCritical, false
	default:
		return DropGeneve, false
	}
	if !d.IPv6 || d.OuterDst6 != pl.topo.VTEP6 {
		pass(pkt)
		return DropNone, false
	}
	if packet.Ethernet(frame).EtherType() == packet.EtherTypeVLAN {
		return DropVLAN, false
	}
	if !pl.chassis6[d.OuterSrc6] {
		return DropGeneveSource, false
	}
	if !geneve.VerifyUDPChecksum(frame, d) {
		return DropGeneveChecksum, false
	}
	return DropNone, true
}
