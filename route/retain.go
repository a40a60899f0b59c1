package route

import (
	"slices"

	"github.com/xgw-dev/xgw/packet"
)

// RetainNATAddr keeps ip classified as the named router's external address
// although no NAT rule of this topology uses it any more. A configuration
// reload that drops or changes an SNAT address builds such a topology: the
// connections SNATed to the old address before the reload still have
// their translation in conntrack, and their replies, which arrive
// addressed to the old address, must still find their router (and so
// their zone) on the external side. No rule uses ip for new connections,
// so a packet to it without a connection is dropped as unsolicited, and
// ip stays in NATIPs so that the XDP program keeps steering it.
//
// Call it before the topology is shared: a Topology is read-only once
// workers use it. It returns false, changing nothing, when ip is already
// an external address of this topology (a rule or a port of any router
// owns it: then it is no longer this router's to keep) or when no gateway
// router has that name.
func (t *Topology) RetainNATAddr(ip packet.IP4, router string) bool {
	r, ok := t.RouterByName(router)
	if !ok || r.Distributed {
		return false
	}
	if _, taken := t.byExternalIP[ip]; taken {
		return false
	}
	t.byExternalIP[ip] = r
	t.externalIPs = insertSorted(t.externalIPs, ip, packet.IP4.Compare)
	t.natIPs = insertSorted(t.natIPs, ip, packet.IP4.Compare)
	return true
}

// RetainNATAddr6 is RetainNATAddr for a NAT66 address: the connections
// (in the IPv6 table) that a reload's dropped rule translated to ip keep
// finding the named router, and ip stays in NATIPs6.
func (t *Topology) RetainNATAddr6(ip IP6, router string) bool {
	r, ok := t.RouterByName(router)
	if !ok || r.Distributed {
		return false
	}
	if _, taken := t.byExternalIP6[ip]; taken {
		return false
	}
	t.byExternalIP6[ip] = r
	t.externalIPs6 = insertSorted(t.externalIPs6, ip, compare6)
	t.natIPs6 = insertSorted(t.natIPs6, ip, compare6)
	return true
}

// insertSorted returns s with v in its place, s itself when v is in it
// already; s is never modified (a Topology's slices may be shared).
func insertSorted[T any](s []T, v T, cmp func(a, b T) int) []T {
	i, found := slices.BinarySearchFunc(s, v, cmp)
	if found {
		return s
	}
	return slices.Insert(slices.Clone(s), i, v)
}
