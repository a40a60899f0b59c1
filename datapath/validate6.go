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
// source on the link. The hop limit is the next check (input6 runs
// both).
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

// input6 runs the router's IPv6 input checks, in the order egress and
// ingress run IPv4's, on a packet it is to forward (frame = pkt.Frame(),
// decoded by DecodeDual in c.parsed) that arrived through the port whose
// address is in, own being the router's addresses: martians first
// (validate6; no message goes to a martian), then the hop limit: at 1 or
// 0 the packet is replaced by time exceeded from in (RFC 4443 §3.3),
// and sent reports that the caller is to route that message from the
// router. why is DropNone when the packet may go on (sent false) or the
// message is ready (sent true); otherwise the drop reason (martians,
// ttl-exceeded when no message may be sent, icmp-rate-limited).
func (w *Worker) input6(c *pktCtx, frame []byte, own []packet.IP6, in packet.IP6) (sent bool, why Drop) {
	p := &c.parsed
	if why := validate6(p, own); why != DropNone {
		return false, why
	}
	if p.TTL <= 1 {
		why := w.timeExceeded6(c, frame, in)
		return why == DropNone, why
	}
	return false, DropNone
}
