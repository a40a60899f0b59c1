package geneve

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/internal/pkttest"
	"github.com/xgw-dev/xgw/packet"
)

// An IPv6 underlay: hypervisor and gateway VTEP addresses, and a v6
// overlay flow (a VM and an external host).
var (
	hvIP6   = packet.MustIP6("2001:db8:100::10")
	vtepIP6 = packet.MustIP6("2001:db8:100::1")
	vmIP6   = packet.MustIP6("fd00:10:199::10")
	extIP6  = packet.MustIP6("2001:db8:31::6:24")
)

// innerFrame6 is the seed's inner frame with an IPv6 overlay.
func innerFrame6(t testing.TB, payloadLen int) []byte {
	t.Helper()
	ip := &layers.IPv6{HopLimit: 63, NextHeader: layers.IPProtocolUDP, SrcIP: net.IP(vmIP6[:]), DstIP: net.IP(extIP6[:])}
	return pkttest.IPv6Frame(t, drMAC[:], grMAC[:], ip, nil, &layers.UDP{SrcPort: 12345, DstPort: 5001}, gopacket.Payload(bytes.Repeat([]byte{7}, payloadLen)))
}

// outerFrame6 wraps a Geneve header and inner frame in Ethernet/IPv6/UDP
// with gopacket; ext is raw extension headers put between IPv6 and UDP
// (first names the first one's protocol), and csum false zeroes the UDP
// checksum (RFC 6936).
func outerFrame6(t testing.TB, vlan, csum bool, first layers.IPProtocol, ext, gen, inner []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(hvMAC[:]), DstMAC: net.HardwareAddr(gwMAC[:]), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, TrafficClass: 0, FlowLabel: 0xabcde, NextHeader: layers.IPProtocolUDP,
		SrcIP: net.IP(hvIP6[:]), DstIP: net.IP(vtepIP6[:])}
	udp := &layers.UDP{SrcPort: layers.UDPPort(seedSrc), DstPort: Port}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	seg := serialize(t, udp, gopacket.Payload(append(append([]byte{}, gen...), inner...)))
	if !csum {
		seg[6], seg[7] = 0, 0
	}
	if len(ext) > 0 {
		ip.NextHeader = first
	}
	pl := gopacket.Payload(append(append([]byte{}, ext...), seg...))
	if vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		return serialize(t, eth, &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv6}, ip, pl)
	}
	return serialize(t, eth, ip, pl)
}

// seedFrame6 is the seed's egress packet with both underlay and overlay
// IPv6.
func seedFrame6(t testing.TB) []byte {
	return outerFrame6(t, false, true, 0, nil, geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{ovnTLV(1, 2)}), innerFrame6(t, 32))
}

func egressParams6() *EncapParams6 {
	return &EncapParams6{SrcMAC: hvMAC, DstMAC: gwMAC, Src: hvIP6, Dst: vtepIP6, HopLimit: 64,
		SrcPort: seedSrc, VNI: 1, InPort: 1, OutPort: 2}
}

func encap6Into(inner []byte, headroom int, p *EncapParams6) []byte {
	buf := bytes.Repeat([]byte{0xa5}, headroom+len(inner)+7)
	copy(buf[headroom:], inner)
	start := Encap6(buf, headroom, len(inner), p)
	return buf[start : headroom+len(inner)]
}
