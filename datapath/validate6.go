package datapath

import "github.com/xgw-dev/xgw/packet"

// validate6 applies a router's input checks to a decoded IPv6 packet that
// it is to forward, the IPv6 half of validate (IPv6 has no header
// checksum to check). Martian sources (RFC 4291, RFC 4942, as Linux's
// ip6_rcv_core and ip6_forward refuse them) are dropped as
// martian-source-ipv6: the unspecified address (§2.5.2), loopback
// (§2.5.3), multicast (§2.7: never a source), link-local (§2.5.6: never
// forwarded off its link), v4-mapped (§2.5.5.2, RFC 4942 §2.2: never on
// the wire) and the router's own addresses (own). Martian destinations
// as martian-destination-ipv6: unspecified, loopback, link-local,
// multicast (a gateway router relays none) and v4-mapped.
//
// Packets for the router itself (echo, neighbour discovery) are checked
// by what answers them (echoReply6, parseNS), which accept a link-local
// source on the link. The hop limit is the caller's next check, as for
// IPv4: p.TTL <= 1 gets timeExceeded6.
func validate6(p *packet.Parsed, own []packet.IP6) Drop {
	if martian6(p.Src6) || owns6(own, p.Src6) {
		return DropMartianSource6
	}
	if martian6(p.Dst6) {
		return DropMartianDest6
	}
	return DropNone
}

// martian6 reports an address a router never forwards from or to: the
// same set for both directions in IPv6.
func martian6(a packet.IP6) bool {
	return a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || a.IsV4Mapped()
}

// owns6 reports whether a is one of own.
func owns6(own []packet.IP6, a packet.IP6) bool {
	for i := range own {
		if own[i] == a {
			return true
		}
	}
	return false
}
