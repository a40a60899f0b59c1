package datapath

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// fromExternal handles a frame from the internet side. Traffic to one of
// our NAT addresses is un-SNATed (or DNATed), routed back into the overlay
// and encapsulated to the chassis of its logical port; everything else is
// the host's.
func (w *Worker) fromExternal(pl *plan, pkt *Packet, now int64) {
	frame := pkt.Frame()
	p := &w.parsed
	res := packet.OK
	if w.pre < preParsed {
		res = p.Decode(frame)
	}
	switch res {
	case packet.OK, packet.Fragment:
	case packet.NotIP:
		w.pass(pkt)
		return
	default:
		w.drop(pkt, DropMalformed)
		return
	}
	r, ok := pl.topo.RouterByExternalIP(p.Dst)
	if !ok || (r.External != nil && r.External.IP == p.Dst) {
		// The host's own address (or not ours at all): the kernel answers.
		w.pass(pkt)
		return
	}
	if res == packet.Fragment {
		w.drop(pkt, DropFragment)
		return
	}
	if p.Tagged {
		w.drop(pkt, DropUnsupported)
		return
	}
	rpl := &pl.routers[r.ID]
	w.cur.Key = flow.Key{InPort: flow.External, Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto}
	w.noteArrival(p)
	// ct(zone=snat,nat): un-SNAT replies. A miss is unsolicited unless a
	// DNAT rule owns the address, in which case the connection starts here.
	if _, ok := w.track(pkt, frame, p, r.SNATZone, flow.ZoneSNAT, ctLookup, nil, now); !ok {
		return
	}
	var dnat conntrack.ReplyChooser
	if w.curZones&(1<<flow.ZoneSNAT) == 0 && !w.curRelated {
		// No connection in the SNAT zone (a connection that exists but was
		// never answered is +new too, and must not be mistaken for one).
		d, ok := rpl.dnat[p.Dst]
		if !ok {
			w.drop(pkt, DropNoConn)
			return
		}
		if _, ok := w.track(pkt, frame, p, r.SNATZone, flow.ZoneSNAT, ctCommit, nil, now); !ok {
			return
		}
		dnat = d
	}
	// ct(zone=dnat,nat): DNAT a new inbound connection, or follow an
	// existing one.
	if _, ok := w.track(pkt, frame, p, r.DNATZone, flow.ZoneDNAT, ctCommit, dnat, now); !ok {
		return
	}
	hop, ok := r.Route(p.Dst)
	if !ok {
		w.drop(pkt, DropNoRoute)
		return
	}
	if hop.Port.External {
		// Hairpin back out is not a gateway's job.
		w.drop(pkt, DropUnsupported)
		return
	}
	if w.routerHop(pl, pkt, frame, p, hop) {
		w.c.ingress++
	}
}
