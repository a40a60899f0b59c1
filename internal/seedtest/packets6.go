package seedtest

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/internal/pkttest"
)

// InnerIPv6 is InnerIPv4's twin: an Ethernet/IPv6/L4 frame, hop limit
// x.TTL (0: 63), traffic class 0 and flow label 0x12345. ICMPv6 is an
// echo of type x.ICMPType (0: request) with identifier x.ICMPID.
func InnerIPv6(t testing.TB, src, dst net.HardwareAddr, sip, dip net.IP, x L4) []byte {
	t.Helper()
	hop := x.TTL
	if hop == 0 {
		hop = 63
	}
	ip := &layers.IPv6{HopLimit: hop, FlowLabel: 0x12345, NextHeader: x.Proto, SrcIP: sip, DstIP: dip}
	var ls []gopacket.SerializableLayer
	switch x.Proto {
	case layers.IPProtocolTCP:
		ls = append(ls, &layers.TCP{SrcPort: layers.TCPPort(x.SPort), DstPort: layers.TCPPort(x.DPort),
			SYN: x.SYN, ACK: x.ACK, FIN: x.FIN, RST: x.RST, Seq: x.Seq, Ack: x.AckNum, Window: 64240})
	case layers.IPProtocolUDP:
		ls = append(ls, &layers.UDP{SrcPort: layers.UDPPort(x.SPort), DstPort: layers.UDPPort(x.DPort)})
	case layers.IPProtocolICMPv6:
		typ := x.ICMPType
		if typ == 0 {
			typ = layers.ICMPv6TypeEchoRequest
		}
		ls = append(ls, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)},
			&layers.ICMPv6Echo{Identifier: x.ICMPID, SeqNumber: 1})
	}
	ls = append(ls, gopacket.Payload(x.Payload))
	return pkttest.IPv6Frame(t, src, dst, ip, nil, ls...)
}

// Geneve6 is Geneve's twin over an IPv6 underlay: inner wrapped as OVN
// would, from the hypervisor's NIC to the gateway's, outer UDP checksum
// over the IPv6 pseudo-header, Geneve header by hand.
func Geneve6(t testing.TB, srcVTEP, dstVTEP net.IP, vni uint32, inport, outport uint16, inner []byte) []byte {
	t.Helper()
	return pkttest.GeneveIPv6(t, MACHV, MACGWUnder, srcVTEP, dstVTEP, 51234, vni, inport, outport, inner)
}
