package datapath

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// fromExternal handles a frame from the internet side. Traffic to one of
// our NAT addresses is un-SNATed (or DNATed), routed back into the overlay
// and encapsulated to the chassis of its logical port; everything else is
// the host's. It returns why the packet was dropped, or DropNone once it
// set the verdict.
func (w *Worker) fromExternal(c *pktCtx) Drop {
	pkt, pl := c.pkt, c.pl
	frame := pkt.Frame()
	p := &c.parsed
	res := packet.OK
	if c.pre < preParsed {
		res = p.Decode(frame)
	}
	switch res {
	case packet.OK, packet.Fragment:
	case packet.NotIP:
		// ARP for a NAT address, which xdp_gw steers here, is answered;
		// nothing else that is not IPv4 should have been steered.
		if w.arpExternal(c, frame, p.L2) {
			return DropNone
		}
		if p.L2.EtherType == packet.EtherTypeIPv6 && !p.L2.Tagged {
			return w.fromExternal6(c, frame) // ingress6.go
		}
		pass(pkt)
		return DropNone
	default:
		return DropMalformed
	}
	r, ok := pl.topo.RouterByExternalIP(p.Dst)
	// host: the router's external port address, which is the host's too.
	// When a rule SNATs to it, xdp_gw steers here only what can be a
	// reply to that SNAT (its port range, echo replies and errors that
	// quote it); the rest, and the whole address when no rule uses it, is
	// the kernel's.
	host := ok && r.External != nil && r.External.IP == p.Dst
	if !ok || (host && !pl.routers[r.ID].snatTo(p.Dst)) {
		pass(pkt)
		return DropNone
	}
	if p.Tagged {
		return DropVLAN // the external interface is untagged
	}
	rpl := &pl.routers[r.ID]
	if why := validate(rpl, frame, p); why != DropNone {
		return why
	}
	// Forward the datagram, not the link padding (or garbage) after it.
	pkt.Len = p.End
	if p.Frag {
		if held, why := w.fragment(c, frame, 0, packet.MAC{}); held || why != DropNone {
			return why
		}
	}
	if r.External != nil && !c.planning {
		switch {
		case p.TTL <= 1:
			return w.timeExceeded(c, frame, r, r.External)
		case w.tooBig(p, flow.Underlay):
			// Checked before NAT so that the error quotes what the
			// sender sent; everything to a NAT address is tunnelled.
			return w.fragNeeded(c, frame, r, r.External, w.p.maxOut[flow.Underlay])
		}
	}
	c.cand.Key = flow.KeyOf(flow.External, 0, packet.MAC{}, p)
	c.noteArrival(p)
	// ct(zone=snat,nat): un-SNAT replies. A miss is unsolicited unless a
	// DNAT rule owns the address, in which case the connection starts here.
	if why := w.track(c, frame, r.SNATZone, flow.ZoneSNAT, ctLookup, nil); why != DropNone {
		if host && why == DropNoConn {
			why = DropNoConnHost // an ICMP error quoting no connection
		}
		return why
	}
	var dnat conntrack.ReplyChooser
	if c.zones&(1<<flow.ZoneSNAT) == 0 && !c.related {
		// No connection in the SNAT zone (a connection that exists but was
		// never answered is +new too, and must not be mistaken for one).
		d, ok := rpl.dnat[p.Dst]
		if !ok {
			if host {
				// Already taken from the kernel: counted apart, as the
				// sign of a port range that overlaps the host's ports.
				return DropNoConnHost
			}
			return DropNoConn
		}
		if why := w.track(c, frame, r.SNATZone, flow.ZoneSNAT, ctCommit, nil); why != DropNone {
			return why
		}
		dnat = d
	}
	// ct(zone=dnat,nat): DNAT a new inbound connection, or follow an
	// existing one.
	if why := w.track(c, frame, r.DNATZone, flow.ZoneDNAT, ctCommit, dnat); why != DropNone {
		return why
	}
	hop, ok := r.Route(p.Dst)
	if !ok {
		return DropNoRoute
	}
	if hop.Port.External {
		// Hairpin back out is not a gateway's job.
		return DropUnsupported
	}
	if why := w.routerHop(c, frame, hop); why != DropNone {
		return why
	}
	w.c.forward(FamilyIPv4, DirIngress, c.pkt.Len)
	return DropNone
}
