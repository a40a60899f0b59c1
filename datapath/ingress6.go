package datapath

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// fromExternal6 is fromExternal for IPv6: traffic to one of our NAT66
// addresses (RouterByExternalIP6) or to a tenant prefix a gateway router
// routes without NAT (InboundRouter6) is validated, un-NATed (SNAT zone
// lookup; a DNAT66 rule starts a connection), DNAT-zone tracked, routed
// (Route6) to the VM's logical port and encapsulated over the IPv4
// underlay. Neighbour solicitations for NAT66 addresses that are not the
// host's are answered (nd.go); everything else, the host's own IPv6
// included, is passed to the kernel. A routed prefix accepts new inbound
// connections, as OVN routes them (no NAT, no firewall).
//
// Fragments go through the fragment table (fragment6); its connections
// are offload candidates (track6) and learnt by the flow cache (learn6).
func (w *Worker) fromExternal6(c *pktCtx, frame []byte) Drop {
	pkt, pl, p := c.pkt, c.pl, &c.parsed
	c.v6 = true
	if r := p.DecodeDual(frame); (r != packet.OK && r != packet.Fragment) || p.Family != 6 || p.Tagged {
		pass(pkt) // not a packet we could own: the kernel's
		return DropNone
	}
	if p.Proto == packet.ProtoICMPv6 && p.ICMPType == packet.ICMPv6NeighborSolicit {
		return w.nd6External(c, frame)
	}
	nat := true
	r, ok := pl.topo.RouterByExternalIP6(p.Dst6)
	host := ok && r.External != nil && r.External.IP6 == p.Dst6
	if ok && host && !pl.routers[r.ID].snatTo6(p.Dst6) {
		pass(pkt)
		return DropNone
	}
	if !ok {
		if r, ok = pl.topo.InboundRouter6(p.Dst6); !ok || r.External == nil {
			pass(pkt)
			return DropNone
		}
		nat = false
	}
	rpl := &pl.routers[r.ID]
	pkt.Len = p.End // the datagram, not the link padding
	frame = pkt.Frame()
	if p.Frag {
		// As egress6: validated, then translated by the first
		// fragment's connection (frag.go). An atomic fragment (RFC
		// 6946: offset 0, no more) is a whole datagram.
		if why := validate6(p, rpl.own6); why != DropNone {
			return why
		}
		if held, why := w.fragment6(c, frame, 0, packet.MAC{}); held || why != DropNone {
			return why
		}
	}
	c.key6 = flow.KeyOf6(flow.External, 0, packet.MAC{}, p)
	c.noteArrival(p)
	if !c.planning {
		sent, why := w.input6(c, frame, rpl.own6, r.External.IP6)
		if why != DropNone {
			return why
		}
		if !sent && w.tooBig(p, flow.Underlay) {
			// Checked before NAT so the error quotes what was sent.
			if why := w.packetTooBig6(c, frame, r.External.IP6, w.p.maxOut[flow.Underlay]); why != DropNone {
				return why
			}
			sent = true
		}
		if sent {
			return w.icmpOut6(c, pkt.Frame(), r)
		}
	}
	// ct(zone=snat,nat): un-SNAT replies (or follow a routed
	// connection). A miss is unsolicited unless a DNAT66 rule owns the
	// address or the prefix is routed.
	found, why := w.track6(c, frame, r.SNATZone, flow.ZoneSNAT, ctLookup, nil)
	if why != DropNone {
		if host && why == DropNoConn {
			why = DropNoConnHost
		}
		return why
	}
	var dnat conntrack.ReplyChooser6
	if !found {
		if nat {
			d, ok := rpl.dnat6[p.Dst6]
			if !ok {
				if host {
					return DropNoConnHost
				}
				return DropNoConn
			}
			dnat = d
		}
		if _, why := w.track6(c, frame, r.SNATZone, flow.ZoneSNAT, ctCommit, nil); why != DropNone {
			return why
		}
	}
	// ct(zone=dnat,nat): DNAT a new inbound connection, or follow one.
	if _, why := w.track6(c, frame, r.DNATZone, flow.ZoneDNAT, ctCommit, dnat); why != DropNone {
		return why
	}
	hop, ok := r.Route6(p.Dst6)
	if !ok {
		return DropNoRoute
	}
	if hop.Port.External {
		return DropUnsupported // hairpin back out is not a gateway's job
	}
	if why := w.routerHop6(c, frame, hop); why != DropNone {
		return why
	}
	w.c.forward(FamilyIPv6, DirIngress, c.pkt.Len)
	return DropNone
}

// nd6External answers a neighbour solicitation on the external side for
// a NAT66 address that is not the host's (the kernel answers for its own
// addresses); anything else is the kernel's.
func (w *Worker) nd6External(c *pktCtx, frame []byte) Drop {
	pkt := c.pkt
	ns, why := parseNS(frame, &c.parsed)
	if why != DropNone {
		pass(pkt) // the kernel judges ND that is not for us
		return DropNone
	}
	r, ok := c.pl.topo.RouterByExternalIP6(ns.Target)
	if !ok || r.External == nil || r.External.IP6 == ns.Target {
		pass(pkt)
		return DropNone
	}
	if _, why := w.ndReply(c, &ns, r.External.MAC, false); why != DropNone {
		return why
	}
	tx(pkt, flow.External)
	w.c.arpReplyExternal++
	return DropNone
}
