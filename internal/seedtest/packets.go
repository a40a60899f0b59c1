package seedtest

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/internal/pkttest"
)

// L4 describes the transport part of a test packet, and its IPv4 TTL.
type L4 struct {
	Proto         layers.IPProtocol
	SPort, DPort  uint16
	SYN, ACK, FIN bool
	RST           bool
	Seq, AckNum   uint32
	ICMPType      uint8
	ICMPID        uint16
	Payload       []byte
	TTL           uint8 // 0: 63, as the seed's packets arrive
	NoUDPCsum     bool  // send UDP with no checksum (0)
}

// OVNOptionHdr is the header of OVN's Geneve option: class 0x0102, type
// 0x80, length one word.
var OVNOptionHdr = pkttest.OVNOptionHdr

// Serialize serializes layers with gopacket, lengths and checksums
// computed, into a fresh slice.
func Serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	return pkttest.Serialize(t, ls...)
}

// Decode decodes an Ethernet frame with gopacket.
func Decode(frame []byte) gopacket.Packet { return pkttest.Decode(frame) }

// InnerIPv4 builds an Ethernet/IPv4/L4 frame (DF, IP id 0x1234).
func InnerIPv4(t testing.TB, src, dst net.HardwareAddr, sip, dip net.IP, x L4) []byte {
	t.Helper()
	ttl := x.TTL
	if ttl == 0 {
		ttl = 63
	}
	e := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: ttl, Protocol: x.Proto, Flags: layers.IPv4DontFragment, SrcIP: sip, DstIP: dip, Id: 0x1234}
	ls := []gopacket.SerializableLayer{e, ip}
	switch x.Proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(x.SPort), DstPort: layers.TCPPort(x.DPort),
			SYN: x.SYN, ACK: x.ACK, FIN: x.FIN, RST: x.RST, Seq: x.Seq, Ack: x.AckNum, Window: 64240}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(x.SPort), DstPort: layers.UDPPort(x.DPort)}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(x.ICMPType, 0), Id: x.ICMPID, Seq: 1})
	}
	ls = append(ls, gopacket.Payload(x.Payload))
	f := Serialize(t, ls...)
	// Drop the serializer's padding to 60 bytes: a decapsulated inner frame
	// carries none.
	f = f[:14+int(binary.BigEndian.Uint16(f[16:]))]
	if x.Proto == layers.IPProtocolUDP && x.NoUDPCsum {
		f[14+20+6], f[14+20+7] = 0, 0
	}
	return f
}

// Geneve wraps inner as OVN would, from the hypervisor's NIC to the
// gateway's: VNI, the OVN option (inport<<16|outport), outer UDP checksum.
// Extra options, already encoded, go before the OVN option. The Geneve
// header is written by hand so that tests do not trust xgw's encoder.
func Geneve(t testing.TB, srcVTEP, dstVTEP net.IP, vni uint32, inport, outport uint16, inner []byte, extra ...[]byte) []byte {
	t.Helper()
	g := append(pkttest.GeneveHeader(vni, inport, outport, extra...), inner...)
	e := &layers.Ethernet{SrcMAC: MACHV, DstMAC: MACGWUnder, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Flags: layers.IPv4DontFragment, SrcIP: srcVTEP, DstIP: dstVTEP}
	udp := &layers.UDP{SrcPort: 51234, DstPort: 6081}
	udp.SetNetworkLayerForChecksum(ip)
	return Serialize(t, e, ip, udp, gopacket.Payload(g))
}

// Egress is the seed's egress packet: VM -> server through the join switch
// (VNI 1, ports 1 -> 2) to the gateway router; extra Geneve options go
// before the OVN option.
func Egress(t testing.TB, x L4, extra ...[]byte) []byte {
	t.Helper()
	return Geneve(t, Chassis, VTEP, 1, 1, 2, InnerIPv4(t, MACDRJoin, MACGRJoin, VM, Server, x), extra...)
}

// Reply is the server's answer to the SNAT address, from the next hop.
func Reply(t testing.TB, x L4) []byte {
	t.Helper()
	return InnerIPv4(t, MACNextHop, MACGRExt, Server, SNAT, x)
}
