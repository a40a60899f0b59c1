package datapath

import (
	"encoding/binary"

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
	if l2.EtherType != packet.EtherTypeARP || l2.Tagged || len(frame) < packet.EthernetLen+arpLen {
		return false
	}
	a := frame[packet.EthernetLen:]
	if binary.BigEndian.Uint16(a[0:]) != arpHTEthernet || binary.BigEndian.Uint16(a[2:]) != packet.EtherTypeIPv4 ||
		a[4] != 6 || a[5] != 4 || binary.BigEndian.Uint16(a[6:]) != arpOpRequest {
		return false
	}
	target := packet.IP4(a[24:28])
	// The external addresses are the NAT addresses (draining ones
	// included) and the routers' external port addresses.
	r, ok := c.pl.topo.RouterByExternalIP(target)
	if !ok || r.External == nil || r.External.IP == target {
		return false
	}
	var senderMAC packet.MAC
	var senderIP packet.IP4
	copy(senderMAC[:], a[8:14])
	copy(senderIP[:], a[14:18])
	eth := packet.Ethernet(frame)
	eth.SetDst(eth.Src())
	eth.SetSrc(r.External.MAC)
	binary.BigEndian.PutUint16(a[6:], arpOpReply)
	copy(a[8:14], r.External.MAC[:])
	copy(a[14:18], target[:])
	copy(a[18:24], senderMAC[:])
	copy(a[24:28], senderIP[:])
	tx(c.pkt, flow.External)
	w.c.arpReplyExternal++
	return true
}
