package datapath

import (
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// arpExternal answers, on the external side, an ARP request for one of
// the NAT addresses, as OVN's gateway router does for its SNAT/DNAT
// external IPs: the reply comes from the external port of the router that
// owns the address, so the upstream network can reach the address without
// a static route. The request is turned around in place and sent back out
// of the external port. A router's external port address is the host's
// (the kernel answers for it; xdp_gw does not steer ARP for it), and an
// address that is no NAT address is not ours: both, like anything that is
// not a well-formed untagged IPv4-over-Ethernet request, are passed.
//
// It reports whether it answered; false leaves the verdict to the caller.
func (w *Worker) arpExternal(c *pktCtx, frame []byte, l2 packet.L2) bool {
	if l2.EtherType != packet.EtherTypeARP || l2.Tagged {
		return false
	}
	target, ok := arpRequest(frame)
	if !ok {
		return false
	}
	// The external addresses are the NAT addresses (draining ones
	// included) and the routers' external port addresses.
	r, ok := c.pl.topo.RouterByExternalIP(target)
	if !ok || r.External == nil || r.External.IP == target {
		return false
	}
	arpReply(frame, r.External.MAC, target)
	tx(c.pkt, flow.External)
	w.c.arpReplyExternal++
	return true
}
