package geneve

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/internal/pkttest"
	"github.com/xgw-dev/xgw/packet"
)

// The seed's egress packet (DESIGN.md): hypervisor 192.0.2.10 -> gateway
// VTEP 192.0.2.1, VNI 1 (join switch), option value 0x00010002, inner
// DR join port -> GR join port, 10.199.100.10 -> 172.31.6.24, TTL 63, DF.
var (
	hvMAC   = packet.MustMAC("52:54:00:00:00:0a")
	gwMAC   = packet.MustMAC("52:54:00:00:00:01")
	hvIP    = packet.MustIP4("192.0.2.10")
	vtepIP  = packet.MustIP4("192.0.2.1")
	drMAC   = packet.MustMAC("0a:58:64:40:00:01")
	grMAC   = packet.MustMAC("0a:58:64:40:00:02")
	vmIP    = packet.MustIP4("10.199.100.10")
	extIP   = packet.MustIP4("172.31.6.24")
	seedSrc = uint16(49876)
)

// tlv is one option as a test writes it, independently of option.go.
type tlv struct {
	class uint16
	typ   uint8
	data  []byte // len must be a multiple of 4
}

func ovnTLV(inport, outport uint16) tlv {
	d := make([]byte, 4)
	binary.BigEndian.PutUint32(d, uint32(inport)<<16|uint32(outport))
	return tlv{OVNClass, OVNType, d}
}

// geneveBytes hand-assembles a Geneve header per RFC 8926 §3.4/§3.5; it
// shares no code with header.go so the decoder is checked independently.
func geneveBytes(ver uint8, oam, crit bool, proto uint16, vni uint32, opts []tlv) []byte {
	var o []byte
	for _, t := range opts {
		o = append(o, byte(t.class>>8), byte(t.class), t.typ, byte(len(t.data)/4))
		o = append(o, t.data...)
	}
	b := make([]byte, 8, 8+len(o))
	b[0] = ver<<6 | byte(len(o)/4)
	if oam {
		b[1] |= 0x80
	}
	if crit {
		b[1] |= 0x40
	}
	b[2], b[3] = byte(proto>>8), byte(proto)
	b[4], b[5], b[6] = byte(vni>>16), byte(vni>>8), byte(vni)
	return append(b, o...)
}

// innerFrame builds the seed's inner Ethernet/IPv4/UDP frame with gopacket.
func innerFrame(t testing.TB, payloadLen int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(drMAC[:]), DstMAC: net.HardwareAddr(grMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 63, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP(vmIP[:]), DstIP: net.IP(extIP[:])}
	udp := &layers.UDP{SrcPort: 12345, DstPort: 5001}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	pl := make([]byte, payloadLen)
	for i := range pl {
		pl[i] = byte(i)
	}
	return serialize(t, eth, ip, udp, gopacket.Payload(pl))
}

// outerFrame wraps a Geneve header and inner frame in Ethernet/IPv4/UDP
// with gopacket, lengths and checksums computed by gopacket.
func outerFrame(t testing.TB, vlan bool, csum bool, gen, inner []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(hvMAC[:]), DstMAC: net.HardwareAddr(gwMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP(hvIP[:]), DstIP: net.IP(vtepIP[:])}
	udp := &layers.UDP{SrcPort: layers.UDPPort(seedSrc), DstPort: Port}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	pl := gopacket.Payload(append(append([]byte{}, gen...), inner...))
	var b []byte
	udpOff := 14 + 20
	if vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		dq := &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}
		b = serialize(t, eth, dq, ip, udp, pl)
		udpOff += 4
	} else {
		b = serialize(t, eth, ip, udp, pl)
	}
	if !csum {
		// gopacket cannot leave it out, so zero it: "no checksum" (RFC 768).
		b[udpOff+6], b[udpOff+7] = 0, 0
	}
	return b
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	return pkttest.Serialize(t, ls...)
}

// seedFrame is the seed's egress packet as an OVN hypervisor sends it.
func seedFrame(t testing.TB) []byte {
	return outerFrame(t, false, true,
		geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{ovnTLV(1, 2)}),
		innerFrame(t, 32))
}

// onesSum is an RFC 1071 checksum written from scratch, so that checksum
// checks do not trust package packet.
func onesSum(chunks ...[]byte) uint16 {
	var s uint32
	for _, c := range chunks {
		for i := 0; i+1 < len(c); i += 2 {
			s += uint32(c[i])<<8 | uint32(c[i+1])
		}
		if len(c)%2 == 1 {
			s += uint32(c[len(c)-1]) << 8
		}
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
