package datapath

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// fromUnderlay handles a frame from the hypervisor side: Geneve to our VTEP
// (over IPv4, or over IPv6 to topo.VTEP6: decapIPv6) is decapsulated and
// routed by the gateway router it is addressed to; anything else belongs
// to the kernel. It returns why the packet was
// dropped, or DropNone once it set the verdict.
func (w *Worker) fromUnderlay(c *pktCtx) Drop {
	pkt, pl := c.pkt, c.pl
	frame := pkt.Frame()
	d := &c.dec
	dr := geneve.OK
	if c.pre < preDecap {
		dr = geneve.Decap(frame, d)
	}
	switch dr {
	case geneve.OK:
		if d.OuterDst != pl.topo.VTEP {
			pass(pkt)
			return DropNone
		}
		// The underlay is untagged: a tagged frame did not come from our
		// link's chassis (Decap takes one tag, for a classifier's sake).
		if packet.Ethernet(frame).EtherType() == packet.EtherTypeVLAN {
			return DropVLAN
		}
		// Only known chassis may tunnel to us, and a checksum they sent
		// must hold (RFC 8926 §3.3; OVS verifies it too). A planned
		// packet is ours.
		if !c.planning && !pl.chassis.has(d.OuterSrc) {
			return DropGeneveSource
		}
		if !geneve.VerifyUDPChecksum(frame, d) {
			return DropGeneveChecksum
		}
	case geneve.NotGeneve:
		if pl.topo.VTEP6.IsUnspecified() || packet.Ethernet(frame).EtherType() != packet.EtherTypeIPv6 {
			pass(pkt)
			return DropNone
		}
		// Geneve over the IPv6 underlay (underlay6.go): its own outer
		// checks, then the same inner frame walk as below.
		if why, ours := w.decapIPv6(c); !ours {
			return why
		}
	case geneve.ErrCriticalOption:
		return DropGeneveCritical
	default:
		return DropGeneve
	}
	inner := frame[d.InnerOff:d.End]
	if len(inner) < packet.EthernetLen {
		return DropMalformed
	}
	if packet.Ethernet(inner).EtherType() == packet.EtherTypeARP {
		return w.arp(c, inner)
	}
	if packet.Ethernet(inner).EtherType() == packet.EtherTypeIPv6 {
		return w.fromUnderlay6(c, inner, d) // egress6.go
	}
	// A gateway router's join port, or a distributed gateway port that
	// the hypervisor redirected an already routed packet to.
	rp, ok := pl.topo.JoinPort(d.VNI, packet.Ethernet(inner).Dst())
	redirect := false
	if !ok {
		if rp, ok = pl.topo.RedirectPort(d.VNI); !ok {
			return DropNoRouter
		}
		redirect = true
	}
	outport := rp.Key
	if redirect {
		outport = rp.RedirectKey
	}
	if pl.topo.CheckOutport && !c.planning && (!d.HasOVN || d.OutPort != outport) {
		return DropGeneveOutport
	}
	c.joinKey = outport
	p := &c.parsed
	res := packet.OK
	if c.pre < preParsed {
		res = p.Decode(inner)
	}
	switch res {
	case packet.OK:
	case packet.NotIP:
		return DropNotIPv4
	case packet.Fragment: // a later one, once validated (frag.go)
	default:
		return DropMalformed
	}
	if p.Tagged {
		return DropVLAN // a router port carries untagged frames
	}
	r := rp.Router
	rpl := &pl.routers[r.ID]
	if why := validate(rpl, inner, p); why != DropNone {
		return why
	}
	if p.Frag {
		if held, why := w.fragment(c, inner, d.VNI, packet.Ethernet(inner).Dst()); held || why != DropNone {
			return why
		}
	}
	c.cand.Key = flow.KeyOf(flow.Underlay, d.VNI, packet.Ethernet(inner).Dst(), p)
	c.noteArrival(p)
	if redirect {
		return w.redirected(c, inner, d, rpl)
	}
	if !c.planning {
		// The router answers for itself, before NAT (lr_in_ip_input).
		switch {
		case rpl.owns(p.Dst) && p.Proto == packet.ProtoICMP && p.ICMPType == packet.ICMPEchoRequest:
			pkt.Off, pkt.Len = pkt.Off+d.InnerOff, p.End // link padding trimmed
			return w.echoReply(c, inner, r)
		case p.TTL <= 1:
			pkt.Off, pkt.Len = pkt.Off+d.InnerOff, p.End // link padding trimmed
			return w.timeExceeded(c, inner, r, rp)
		case w.tooBig(p, flow.External) && r.RoutesOut(p.Dst):
			pkt.Off, pkt.Len = pkt.Off+d.InnerOff, p.End // link padding trimmed
			return w.fragNeeded(c, inner, r, rp, w.p.maxOut[flow.External])
		}
	}
	// To one of the router's own NAT addresses: hairpinned back inside
	// (hairpin.go), as OVN's gateway router does.
	if rpl.natAddr(p.Dst) {
		return w.hairpin(c, inner, d, rpl)
	}
	if rpl.owns(p.Dst) {
		return DropToRouter
	}
	// ct(zone=dnat,nat): un-DNAT replies of inbound (DNATed) connections;
	// OVN commits every new connection in this zone too.
	if why := w.track(c, inner, r.DNATZone, flow.ZoneDNAT, ctCommit, nil); why != DropNone {
		return why
	}
	hop, ok := r.Route(p.Dst)
	if !ok {
		return DropNoRoute
	}
	// ct(commit,zone=snat,nat(src=...)) when leaving through the external
	// port; the rule is chosen by the logical source address.
	if hop.Port.External {
		var ch conntrack.ReplyChooser
		if s := rpl.snatFor(p.Src); s != nil {
			ch = s
		}
		if why := w.track(c, inner, r.SNATZone, flow.ZoneSNAT, ctCommit, ch); why != DropNone {
			return why
		}
	}
	pkt.Off, pkt.Len = pkt.Off+d.InnerOff, p.End // link padding trimmed
	if why := w.routerHop(c, inner[:p.End], hop); why != DropNone {
		return why
	}
	w.c.forward(FamilyIPv4, DirEgress, c.pkt.Len)
	return DropNone
}

// redirected finishes a packet that a hypervisor's distributed router
// routed to its distributed gateway port and redirected to us, the port's
// gateway chassis (OVN's chassisredirect shape): TTL and addresses are
// already the router's work, so what is left is the router's egress
// pipeline on the gateway chassis (lr_out_undnat, lr_out_snat) and the
// output on the external network: ct(zone=dnat,nat), a route lookup for
// the next hop only, ct(commit,zone=snat,nat(src=...)), L2 out without a
// second TTL decrement.
func (w *Worker) redirected(c *pktCtx, inner []byte, d *geneve.Decapped, rpl *routerPlan) Drop {
	p, r := &c.parsed, rpl.r
	if p.TTL == 0 {
		// The hypervisor's router decremented it already and never
		// redirects TTL 0; a chassis that sends one anyway must not get
		// it forwarded (RFC 1812 5.3.1). No time exceeded from here.
		return DropTTL
	}
	if rpl.natAddr(p.Dst) {
		// To one of the router's NAT addresses: OVN's gateway chassis
		// loops it back into the router (lr_out_egr_loop), which
		// un-SNATs, DNATs and routes it again (a second TTL
		// decrement) onto the tenant switch; the hairpin does the same.
		return w.hairpin(c, inner, d, rpl)
	}
	if rpl.owns(p.Dst) {
		return DropToRouter // the hypervisor's router answers for itself
	}
	if !c.planning && w.tooBig(p, flow.External) {
		// No ICMP from here: the hypervisor's router checks
		// gateway_mtu (lr_in_chk_pkt_len) before it redirects.
		return DropTooBig
	}
	if why := w.track(c, inner, r.DNATZone, flow.ZoneDNAT, ctCommit, nil); why != DropNone {
		return why
	}
	hop, ok := r.Route(p.Dst)
	if !ok || !hop.Port.External {
		return DropNoRoute
	}
	var ch conntrack.ReplyChooser
	if s := rpl.snatFor(p.Src); s != nil {
		ch = s
	}
	if why := w.track(c, inner, r.SNATZone, flow.ZoneSNAT, ctCommit, ch); why != DropNone {
		return why
	}
	c.pkt.Off, c.pkt.Len = c.pkt.Off+d.InnerOff, p.End // link padding trimmed
	if why := w.toExternal(c, inner[:p.End], hop); why != DropNone {
		return why
	}
	w.c.forward(FamilyIPv4, DirEgress, c.pkt.Len)
	return DropNone
}
