package datapath

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// fromUnderlay6 is fromUnderlay for an inner IPv6 frame (Geneve over
// either underlay, already decapsulated and checked into d): neighbour
// solicitations for a join port's IPv6 address are answered; anything
// else reaching a gateway router's join port is validated (validate6,
// hop limit), answered if it is an echo to the router, DNAT-zone tracked,
// routed (Route6) and, out of the external port, NAT66-ed in the SNAT
// zone (SNAT6; routed unchanged when no rule covers its source).
//
// A packet to one of the router's NAT66 addresses is hairpinned
// (hairpin6). Fragments go through the fragment table as IPv4's do
// (fragment6). Distributed-gateway-port redirects are IPv4-only
// (unsupported). Its connections are offload candidates (track6,
// PlanFlow6) and learnt by the flow cache (learn6).
func (w *Worker) fromUnderlay6(c *pktCtx, inner []byte, d *geneve.Decapped) Drop {
	pkt, pl, p := c.pkt, c.pl, &c.parsed
	c.v6 = true
	switch p.DecodeDual(inner) {
	case packet.OK:
	case packet.Fragment: // a later one, once validated (fragment6)
	default:
		return DropMalformed
	}
	if p.Family != 6 {
		return DropMalformed // the EtherType said IPv6
	}
	if p.Tagged {
		return DropVLAN
	}
	if p.Proto == packet.ProtoICMPv6 && p.ICMPType == packet.ICMPv6NeighborSolicit {
		return w.nd6Underlay(c, inner, d)
	}
	rp, ok := pl.topo.JoinPort(d.VNI, packet.Ethernet(inner).Dst())
	if !ok {
		if _, ok := pl.topo.RedirectPort(d.VNI); ok {
			return DropUnsupported // distributed gateway ports: IPv4 only
		}
		return DropNoRouter
	}
	if pl.topo.CheckOutport && (!d.HasOVN || d.OutPort != rp.Key) {
		return DropGeneveOutport
	}
	r := rp.Router
	rpl := &pl.routers[r.ID]
	if p.Frag {
		// Translated one by one by the first fragment's connection
		// (frag.go), after the checks that need no L4 header. The
		// router reassembles nothing for itself.
		if rpl.owns6(p.Dst6) {
			return DropToRouter
		}
		if why := validate6(p, rpl.own6); why != DropNone {
			return why
		}
		if held, why := w.fragment6(c, inner, d.VNI, packet.Ethernet(inner).Dst()); held || why != DropNone {
			return why
		}
	}
	pkt.Off, pkt.Len = pkt.Off+d.InnerOff, p.End // link padding trimmed
	frame := pkt.Frame()
	c.key6 = flow.KeyOf6(flow.Underlay, d.VNI, packet.Ethernet(inner).Dst(), p)
	c.noteArrival(p)
	// The router answers for itself, before NAT (lr_in_ip_input).
	if rpl.owns6(p.Dst6) {
		if p.Proto != packet.ProtoICMPv6 || p.ICMPType != packet.ICMPv6EchoRequest {
			return DropToRouter
		}
		if why := w.echoReply6(c, frame); why != DropNone {
			return why
		}
		return w.icmpOut6(c, pkt.Frame(), r)
	}
	sent, why := w.input6(c, frame, rpl.own6, rp.IP6)
	if why != DropNone {
		return why
	}
	if sent {
		return w.icmpOut6(c, pkt.Frame(), r)
	}
	if w.tooBig(p, flow.External) && r.RoutesOut6(p.Dst6) {
		if why := w.packetTooBig6(c, frame, rp.IP6, w.p.maxOut[flow.External]); why != DropNone {
			return why
		}
		return w.icmpOut6(c, pkt.Frame(), r)
	}
	// To one of the router's own NAT66 addresses: hairpinned back inside
	// (hairpin.go), as OVN's gateway router does.
	if rpl.natAddr6(p.Dst6) {
		return w.hairpin6(c, frame, rpl)
	}
	if pl.topo.IsExternalIP6(p.Dst6) {
		return DropUnsupported // another router's NAT66 address: not wired
	}
	// ct(zone=dnat,nat): un-DNAT replies of inbound connections; every
	// new connection is committed here too, as OVN does.
	if _, why := w.track6(c, frame, r.DNATZone, flow.ZoneDNAT, ctCommit, nil); why != DropNone {
		return why
	}
	hop, ok := r.Route6(p.Dst6)
	if !ok {
		return DropNoRoute
	}
	if hop.Port.External {
		// ct(commit,zone=snat,nat(src=...)): NAT66 by the most specific
		// rule for the source, routed unchanged (and still tracked, for
		// the replies) when none covers it.
		var ch conntrack.ReplyChooser6
		if s := rpl.snatFor6(p.Src6); s != nil {
			ch = s
		}
		if _, why := w.track6(c, frame, r.SNATZone, flow.ZoneSNAT, ctCommit, ch); why != DropNone {
			return why
		}
	}
	if why := w.routerHop6(c, frame, hop); why != DropNone {
		return why
	}
	w.c.forward(FamilyIPv6, DirEgress, c.pkt.Len)
	return DropNone
}

// icmpOut6 routes an ICMPv6 message the router generated (echoReply6,
// icmp6Error) from its own address.
func (w *Worker) icmpOut6(c *pktCtx, frame []byte, r *route.Router) Drop {
	hop, ok := r.Route6(c.parsed.Dst6)
	if !ok {
		return DropNoRoute
	}
	if why := w.routerHop6(c, frame, hop); why != DropNone {
		return why
	}
	w.c.icmpOut++
	return DropNone
}

// nd6Underlay answers a neighbour solicitation that came over Geneve for
// the IPv6 address of a gateway router's port on that switch, as arp
// answers ARP: the advertisement goes back to the sending chassis with
// outport = the solicitation's inport.
func (w *Worker) nd6Underlay(c *pktCtx, inner []byte, d *geneve.Decapped) Drop {
	pkt, pl := c.pkt, c.pl
	ns, why := parseNS(inner, &c.parsed)
	if why != DropNone {
		return why
	}
	if !d.HasOVN {
		return DropND
	}
	sw, ok := pl.topo.SwitchByKey(d.VNI)
	if !ok {
		return DropND
	}
	rp, ok := pl.topo.RouterPortByIP6(sw, ns.Target)
	if !ok || rp.Router.Distributed {
		return DropND
	}
	pkt.Off, pkt.Len = pkt.Off+d.InnerOff, len(inner)
	if _, why := w.ndReply(c, &ns, rp.MAC, true); why != DropNone {
		return why
	}
	p := &c.parsed
	sport := geneve.SourcePort(geneve.FlowHash6(p.Src6, p.Dst6, 0, 0, packet.ProtoICMPv6))
	to := backTo(d)
	if why := w.encap(c, &to, sport, d.VNI, rp.Key, d.InPort); why != DropNone {
		return why
	}
	w.c.arpReply++
	return DropNone
}
