package route

import (
	"net/netip"
	"slices"

	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

// NATRule6 is a NAT66 rule of a gateway router as plain data: NATRule
// with IPv6 addresses. IPv6 rules are kept apart from NATRules so that
// the IPv4 pipeline never sees an address of the other family.
type NATRule6 struct {
	Type     nat.Kind
	Logical  netip.Prefix // inside network (snat) or address (/128, dnat*)
	External IP6
	// PortMin..PortMax are the source ports to allocate for snat and
	// dnat_and_snat; both 0 for dnat.
	PortMin, PortMax uint16
	Mapping          nat.Mapping
}

// NATRules6 returns r's IPv6 NAT rules in config order. Read-only.
func (r *Router) NATRules6() []NATRule6 { return r.nat6 }

// snatEntry4 and snatEntry6 index the source-NAT rules (snat and the
// outbound half of dnat_and_snat) by logical prefix, longest first, for
// the per-family "NAT or routed" decision.
type snatEntry4 struct {
	net, mask uint32
	rule      int // index in Router.nat
}

type snatEntry6 struct {
	netHi, netLo, maskHi, maskLo uint64
	rule                         int // index in Router.nat6
}

// SNAT4 returns the most specific rule of r that source-NATs the inside
// address src (snat, or dnat_and_snat for its own address). ok false means
// no rule covers src and its traffic is routed without NAT. It does not
// allocate.
func (r *Router) SNAT4(src packet.IP4) (rule *NATRule, ok bool) {
	s := src.Uint32()
	for i := range r.snat4 {
		if e := &r.snat4[i]; s&e.mask == e.net {
			return &r.nat[e.rule], true
		}
	}
	return nil, false
}

// SNAT6 is SNAT4 for IPv6. For IPv6 "routed" is OVN's ordinary case: a
// prefix that no rule covers keeps its addresses end to end (OpenStack's
// routed tenant prefixes), while ovn-kubernetes' dual-stack clusters
// SNAT theirs. It does not allocate.
func (r *Router) SNAT6(src IP6) (rule *NATRule6, ok bool) {
	hi, lo := halves(src)
	for i := range r.snat6 {
		if e := &r.snat6[i]; hi&e.maskHi == e.netHi && lo&e.maskLo == e.netLo {
			return &r.nat6[e.rule], true
		}
	}
	return nil, false
}

// indexSNAT builds r's SNAT4 and SNAT6 indexes from its rules.
func (r *Router) indexSNAT() {
	type bits struct{ b, i int }
	var o4, o6 []bits
	for i, n := range r.nat {
		if n.Type != nat.KindDNAT {
			o4 = append(o4, bits{n.Logical.Bits(), i})
		}
	}
	for i, n := range r.nat6 {
		if n.Type != nat.KindDNAT {
			o6 = append(o6, bits{n.Logical.Bits(), i})
		}
	}
	longest := func(a, b bits) int { return b.b - a.b }
	slices.SortStableFunc(o4, longest)
	slices.SortStableFunc(o6, longest)
	for _, x := range o4 {
		p := r.nat[x.i].Logical.Masked()
		var mask uint32
		if p.Bits() > 0 {
			mask = ^uint32(0) << (32 - p.Bits())
		}
		r.snat4 = append(r.snat4, snatEntry4{net: packet.IP4(p.Addr().As4()).Uint32() & mask, mask: mask, rule: x.i})
	}
	for _, x := range o6 {
		p := r.nat6[x.i].Logical.Masked()
		mh, ml := masks6(p.Bits())
		nh, nl := halves(p.Addr().As16())
		r.snat6 = append(r.snat6, snatEntry6{netHi: nh & mh, netLo: nl & ml, maskHi: mh, maskLo: ml, rule: x.i})
	}
}

// natCovers6 reports whether one of r's source-NAT rules covers all of p:
// such a prefix is NATed, not routed.
func (r *Router) natCovers6(p netip.Prefix) bool {
	for _, n := range r.nat6 {
		if n.Type != nat.KindDNAT && n.Logical.Bits() <= p.Bits() && n.Logical.Contains(p.Addr()) {
			return true
		}
	}
	return false
}
