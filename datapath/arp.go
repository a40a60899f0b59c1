package datapath

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

const (
	arpLen        = 28
	arpOpRequest  = 1
	arpOpReply    = 2
	arpHTEthernet = 1
)

// arp answers, over Geneve, ARP requests for a gateway router's own
// join-port addresses. OVN's distributed router resolves the gateway that
// way: the request arrives with outport = a multicast group key, and the
// reply goes back to the sending chassis with outport = the sender's port
// key (the request's inport). The frame is turned around in place.
func (w *Worker) arp(c *pktCtx, inner []byte) Drop {
	pkt, pl, d := c.pkt, c.pl, &c.dec
	target, ok := arpRequest(inner)
	if !ok || !d.HasOVN {
		if len(inner) < packet.EthernetLen+arpLen {
			return DropMalformed
		}
		return DropARP
	}
	if rp, ok := pl.topo.RedirectPort(d.VNI); ok {
		return w.arpRedirected(c, rp, target)
	}
	sw, ok := pl.topo.SwitchByKey(d.VNI)
	if !ok {
		return DropARP
	}
	rp, ok := pl.topo.RouterPortByIP(sw, target)
	if !ok || rp.Router.Distributed {
		return DropARP
	}
	senderIP := arpReply(inner, rp.MAC, rp.IP)

	innerStart := pkt.Off + d.InnerOff
	pkt.Off, pkt.Len = innerStart, len(inner)
	sport := geneve.SourcePort(geneve.FlowHash(rp.IP, senderIP, 0, 0, 0))
	to := backTo(d)
	if why := w.encap(c, &to, sport, d.VNI, rp.Key, d.InPort); why != DropNone {
		return why
	}
	w.c.arpReply++
	return DropNone
}

// arpRedirected takes an ARP request that a hypervisor's router sent out
// of its distributed gateway port rp: it has no MAC_Binding for target
// yet, and OVN's gateway chassis would put the request on the physical
// network and record the answer in MAC_Binding (pinctrl). xgw asks the
// kernel instead (a neighbour lookup queues a resolution), and its OVN
// controller records the kernel's answer in MAC_Binding, from which the
// hypervisors learn it. The request itself goes no further: counted as
// neighbor-miss while the kernel resolves, as arp once it knows the
// answer (the MAC_Binding is on its way) or when target is not on rp's
// network.
func (w *Worker) arpRedirected(c *pktCtx, rp *route.RouterPort, target packet.IP4) Drop {
	d := &c.dec
	if c.pl.topo.CheckOutport && d.OutPort != rp.RedirectKey {
		return DropGeneveOutport
	}
	if target == rp.IP || !rp.Prefix.Contains(target.Addr()) {
		return DropARP
	}
	if _, ok := w.p.neigh.Lookup(target); !ok {
		return DropNeighMiss
	}
	return DropARP
}

// arpRequest reports whether frame is an ARP request for IPv4 over
// Ethernet, and its target address.
func arpRequest(frame []byte) (target packet.IP4, ok bool) {
	if len(frame) < packet.EthernetLen+arpLen {
		return target, false
	}
	a := frame[packet.EthernetLen:]
	if binary.BigEndian.Uint16(a[0:]) != arpHTEthernet || binary.BigEndian.Uint16(a[2:]) != packet.EtherTypeIPv4 ||
		a[4] != 6 || a[5] != 4 || binary.BigEndian.Uint16(a[6:]) != arpOpRequest {
		return target, false
	}
	return packet.IP4(a[24:28]), true
}

// arpReply turns the request in frame (checked by arpRequest) around in
// place into the reply that mac owns ip, addressed to the requester, and
// returns the requester's address.
func arpReply(frame []byte, mac packet.MAC, ip packet.IP4) (sender packet.IP4) {
	a := frame[packet.EthernetLen:]
	senderMAC := packet.MAC(a[8:14])
	sender = packet.IP4(a[14:18])
	binary.BigEndian.PutUint16(a[6:], arpOpReply)
	copy(a[8:14], mac[:])
	copy(a[14:18], ip[:])
	copy(a[18:24], senderMAC[:])
	copy(a[24:28], sender[:])
	eth := packet.Ethernet(frame)
	eth.SetDst(senderMAC)
	eth.SetSrc(mac)
	return sender
}
