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
	t.externalIPs = insertSorted(t.externalIPs, ip)
	t.natIPs = insertSorted(t.natIPs, ip)
	return true
}

func insertSorted(s []packet.IP4, ip packet.IP4) []packet.IP4 {
	i, found := slices.BinarySearchFunc(s, ip, packet.IP4.Compare)
	if found {
		return s
	}
	return slices.Insert(slices.Clone(s), i, ip)
}
