package nat

import (
	"net/netip"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// DNAT is a 1:1 address mapping: OVN's dnat (External → Logical for
// connections that arrive at External) and the inbound half of
// dnat_and_snat (a floating IP). Ports are never changed.
type DNAT struct{ External, Logical packet.IP4 }

// Matches reports whether the rule applies to a connection addressed to dst.
func (d DNAT) Matches(dst packet.IP4) bool { return dst == d.External }

// ChooseReply implements conntrack.ReplyChooser for connections arriving at
// d.External: the reply comes from d.Logical. The caller has checked
// Matches(orig.Dst). ok is false if that reply tuple already belongs to
// another connection (the logical host already talks to that peer from the
// same port through another translation); with no ports to vary, there is
// nothing else to try.
func (d DNAT) ChooseReply(orig conntrack.Tuple, taken conntrack.Taken) (conntrack.Tuple, bool) {
	reply := orig.Reverse()
	reply.Src = d.Logical
	if taken.Taken(reply) {
		return conntrack.Tuple{}, false
	}
	return reply, true
}

// SNAT returns the outbound half of dnat_and_snat: connections from
// d.Logical leave as d.External with source ports from portMin-portMax.
// A port in that range is kept whenever free; one moves only if the host
// already has a connection to the same peer and port through another rule
// with the same translated tuple. It fails for a zero address or an empty
// range.
func (d DNAT) SNAT(portMin, portMax uint16) (*SNAT, error) {
	return NewSNAT(netip.PrefixFrom(d.Logical.Addr(), 32), []packet.IP4{d.External}, portMin, portMax)
}
