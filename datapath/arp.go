package datapath

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
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
	if len(inner) < packet.EthernetLen+arpLen {
		return DropMalformed
	}
	a := inner[packet.EthernetLen:]
	if binary.BigEndian.Uint16(a[0:]) != arpHTEthernet || binary.BigEndian.Uint16(a[2:]) != packet.EtherTypeIPv4 ||
		a[4] != 6 || a[5] != 4 || binary.BigEndian.Uint16(a[6:]) != arpOpRequest || !d.HasOVN {
		return DropARP
	}
	var target packet.IP4
	copy(target[:], a[24:28])
	sw, ok := pl.topo.SwitchByKey(d.VNI)
	if !ok {
		return DropARP
	}
	rp, ok := pl.topo.RouterPortByIP(sw, target)
	if !ok || rp.Router.Distributed {
		return DropARP
	}
	var senderMAC [6]byte
	var senderIP [4]byte
	copy(senderMAC[:], a[8:14])
	copy(senderIP[:], a[14:18])
	binary.BigEndian.PutUint16(a[6:], arpOpReply)
	copy(a[8:14], rp.MAC[:])
	copy(a[14:18], rp.IP[:])
	copy(a[18:24], senderMAC[:])
	copy(a[24:28], senderIP[:])
	eth := packet.Ethernet(inner)
	eth.SetDst(packet.MAC(senderMAC))
	eth.SetSrc(rp.MAC)

	innerStart := pkt.Off + d.InnerOff
	pkt.Off, pkt.Len = innerStart, len(inner)
	sport := geneve.SourcePort(geneve.FlowHash(rp.IP, packet.IP4(senderIP), 0, 0, 0))
	if why := w.encap(c, d.OuterSrcMAC, d.OuterSrc, sport, d.VNI, rp.Key, d.InPort); why != DropNone {
		return why
	}
	w.c.arpReply++
	return DropNone
}
