package datapath

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// fromUnderlay handles a frame from the hypervisor side: Geneve to our VTEP
// is decapsulated and routed by the gateway router it is addressed to;
// anything else belongs to the kernel.
func (w *Worker) fromUnderlay(pl *plan, pkt *Packet, now int64) {
	frame := pkt.Frame()
	d := &w.dec
	dr := geneve.OK
	if w.pre < preDecap {
		dr = geneve.Decap(frame, d)
	}
	switch dr {
	case geneve.OK:
	case geneve.NotGeneve:
		w.pass(pkt)
		return
	case geneve.ErrCriticalOption:
		w.drop(pkt, DropGeneveCritical)
		return
	default:
		w.drop(pkt, DropGeneve)
		return
	}
	if d.OuterDst != pl.topo.VTEP {
		w.pass(pkt)
		return
	}
	inner := frame[d.InnerOff:d.End]
	if len(inner) < packet.EthernetLen {
		w.drop(pkt, DropMalformed)
		return
	}
	if packet.Ethernet(inner).EtherType() == packet.EtherTypeARP {
		w.arp(pl, pkt, inner)
		return
	}
	rp, ok := pl.topo.JoinPort(d.VNI, packet.Ethernet(inner).Dst())
	if !ok {
		w.drop(pkt, DropNoRouter)
		return
	}
	p := &w.parsed
	res := packet.OK
	if w.pre < preParsed {
		res = p.Decode(inner)
	}
	switch res {
	case packet.OK:
	case packet.NotIP:
		w.drop(pkt, DropNotIPv4)
		return
	case packet.Fragment:
		w.drop(pkt, DropFragment)
		return
	default:
		w.drop(pkt, DropMalformed)
		return
	}
	if p.Tagged {
		w.drop(pkt, DropUnsupported)
		return
	}
	w.cur.Key = flow.Key{InPort: flow.Underlay, VNI: d.VNI, InnerDst: packet.Ethernet(inner).Dst(),
		Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto}
	w.noteArrival(p)
	r := rp.Router
	rpl := &pl.routers[r.ID]
	if ownsIP(rpl, p.Dst) {
		w.drop(pkt, DropToRouter)
		return
	}
	// ct(zone=dnat,nat): un-DNAT replies of inbound (DNATed) connections;
	// OVN commits every new connection in this zone too.
	if _, ok := w.track(pkt, inner, p, r.DNATZone, flow.ZoneDNAT, ctCommit, nil, now); !ok {
		return
	}
	hop, ok := r.Route(p.Dst)
	if !ok {
		w.drop(pkt, DropNoRoute)
		return
	}
	// ct(commit,zone=snat,nat(src=...)) when leaving through the external
	// port; the rule is chosen by the logical source address.
	if hop.Port.External {
		var ch conntrack.ReplyChooser
		if s := rpl.snatFor(p.Src); s != nil {
			ch = s
		}
		if _, ok := w.track(pkt, inner, p, r.SNATZone, flow.ZoneSNAT, ctCommit, ch, now); !ok {
			return
		}
	}
	innerStart := pkt.Off + d.InnerOff
	pkt.Off, pkt.Len = innerStart, len(inner)
	if w.routerHop(pl, pkt, inner, p, hop) {
		w.c.egress++
	}
}

// ownsIP reports whether dst is one of the router's own port addresses.
func ownsIP(rp *routerPlan, dst packet.IP4) bool {
	for _, port := range rp.r.Ports {
		if port.IP == dst {
			return true
		}
	}
	return false
}
