package datapath

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// Hairpinning (RFC 4787 REQ-9): a VM reaching another VM, or itself,
// through an external address of its own gateway router. OVN's gateway
// router does it without leaving the router, because on a gateway router
// (northd's build_lrouter_in_unsnat_match, build_lrouter_in_dnat_flow,
// build_lrouter_out_snat_match) un-SNAT matches ip4.dst == external_ip,
// DNAT matches ip4.dst == external_ip and SNAT ip4.src == logical_ip, none
// of them restricted to the external port; DNAT sets flags.loopback so
// that the packet may leave by the port it came in. So a packet from the
// join switch to a floating IP is DNATed to the VM behind it, routed back
// onto the join switch and SNATed (by the rule of its source) on the way
// out, and the answer, addressed to that SNAT address, is un-SNATed and
// un-DNATed the same way. The source is SNATed so that the answer comes
// back through the gateway instead of straight from the distributed
// router.
//
// A SNAT-only address hairpins only the packets of a connection it
// already has (an answer, as above): its mappings are endpoint-dependent
// (as OVS's), so a packet to another VM's mapping from a third party
// matches nothing. OVN drops those when the address is a router port's
// (lr_in_arp_resolve's drop of unSNATed-nothing traffic to its own IPs)
// and otherwise sends them out, whence the upstream router returns them
// to the gateway, which drops them unsolicited; xgw drops them at once,
// counted as no-connection.

// natAddr reports whether ip is one of the router's NAT external
// addresses (a DNAT address or an SNAT rule's).
func (rp *routerPlan) natAddr(ip packet.IP4) bool {
	_, ok := rp.dnat[ip]
	return ok || rp.snatTo(ip)
}

// hairpin forwards a packet from the join switch (decapsulated; d is its
// Geneve header) whose destination is one of its router's NAT
// addresses: ct(zone=snat,nat), ct(zone=dnat,nat) with the DNAT rule of
// the address for a new connection, routing, ct(commit,zone=snat,
// nat(src=...)) unless it was an answer, and the gateway's and the
// distributed router's hops back to the destination VM's chassis.
func (w *Worker) hairpin(c *pktCtx, inner []byte, d *geneve.Decapped, rpl *routerPlan) Drop {
	p, r := &c.parsed, rpl.r
	if why := w.track(c, inner, r.SNATZone, flow.ZoneSNAT, ctLookup, nil); why != DropNone {
		return why
	}
	answer := c.zones&(1<<flow.ZoneSNAT) != 0 || c.related
	var ch conntrack.ReplyChooser
	if !answer {
		dn, ok := rpl.dnat[p.Dst]
		if !ok {
			return DropNoConn
		}
		ch = dn
	}
	if why := w.track(c, inner, r.DNATZone, flow.ZoneDNAT, ctCommit, ch); why != DropNone {
		return why
	}
	hop, ok := r.Route(p.Dst)
	if !ok {
		return DropNoRoute
	}
	if hop.Port.External {
		// Translated to an address outside: not a hairpin.
		return DropUnsupported
	}
	if !answer {
		ch = nil
		if s := rpl.snatFor(p.Src); s != nil {
			ch = s
		}
		if why := w.track(c, inner, r.SNATZone, flow.ZoneSNAT, ctCommit, ch); why != DropNone {
			return why
		}
	}
	c.pkt.Off, c.pkt.Len = c.pkt.Off+d.InnerOff, p.End // link padding trimmed
	if why := w.routerHop(c, inner[:p.End], hop); why != DropNone {
		return why
	}
	w.c.forward(FamilyIPv4, DirHairpin, c.pkt.Len)
	return DropNone
}

// natAddr6 reports whether ip is one of the router's NAT66 external
// addresses (a DNAT66 address or an SNAT66 rule's).
func (rp *routerPlan) natAddr6(ip packet.IP6) bool {
	_, ok := rp.dnat6[ip]
	return ok || rp.snatTo6(ip)
}

// hairpin6 is hairpin for IPv6 (frame = pkt.Frame(), the inner datagram
// from the join switch, link padding trimmed): a VM reaching another VM's
// dnat_and_snat IPv6 address, or the answer to such a packet, goes
// through NAT66 in both zones as it would through OVN's gateway router,
// and back onto the join switch toward the destination VM's chassis (over
// either underlay). A packet to a SNAT66-only address that belongs to no
// connection is dropped as no-connection, as for IPv4.
func (w *Worker) hairpin6(c *pktCtx, frame []byte, rpl *routerPlan) Drop {
	p, r := &c.parsed, rpl.r
	found, why := w.track6(c, frame, r.SNATZone, flow.ZoneSNAT, ctLookup, nil)
	if why != DropNone {
		return why
	}
	answer := found || c.related
	var ch conntrack.ReplyChooser6
	if !answer {
		dn, ok := rpl.dnat6[p.Dst6]
		if !ok {
			return DropNoConn
		}
		ch = dn
	}
	if _, why := w.track6(c, frame, r.DNATZone, flow.ZoneDNAT, ctCommit, ch); why != DropNone {
		return why
	}
	hop, ok := r.Route6(p.Dst6)
	if !ok {
		return DropNoRoute
	}
	if hop.Port.External {
		// Translated to an address outside: not a hairpin.
		return DropUnsupported
	}
	if !answer {
		ch = nil
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
	w.c.forward(FamilyIPv6, DirHairpin, c.pkt.Len)
	return DropNone
}
