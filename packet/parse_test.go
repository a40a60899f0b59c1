package packet

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/internal/pkttest"
)

// build serializes ls with gopacket, lengths and checksums computed.
func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	return pkttest.Serialize(t, ls...)
}

func ipv4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 63, Protocol: proto, Flags: layers.IPv4DontFragment,
		SrcIP: net.IP{10, 199, 100, 10}, DstIP: net.IP{172, 31, 6, 24}}
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr{0xae, 3, 3, 0x17, 0xeb, 0xdf},
		DstMAC: net.HardwareAddr{0xae, 0xcd, 0xcd, 4, 0xd7, 0xd4}, EthernetType: t}
}

func TestDecodeTCP(t *testing.T) {
	ip := ipv4(layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 47190, DstPort: 22, SYN: true, Seq: 1, Window: 100,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}}}}
	tcp.SetNetworkLayerForChecksum(ip)
	f := build(t, eth(layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload("hello"))
	var p Parsed
	if r := p.Decode(f); r != OK {
		t.Fatalf("Decode: %v", r)
	}
	if p.Proto != ProtoTCP || p.SrcPort != 47190 || p.DstPort != 22 || p.TCPFlags != TCPFlagSYN || p.TTL != 63 {
		t.Fatalf("bad fields: %+v", p)
	}
	if p.Src != MustIP4("10.199.100.10") || p.Dst != MustIP4("172.31.6.24") {
		t.Fatalf("addrs %v %v", p.Src, p.Dst)
	}
	seg := TCP(p.L4(f))
	if ws, ok := seg.WindowScale(); !ok || ws != 7 {
		t.Fatalf("window scale %d %v", ws, ok)
	}
	if len(p.L4(f))-seg.DataOffset() != 5 {
		t.Fatal("payload length")
	}
}

func TestDecodeVLANAndPadding(t *testing.T) {
	ip := ipv4(layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 1000, DstPort: 2000}
	udp.SetNetworkLayerForChecksum(ip)
	f := build(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload("x"))
	f = append(f, make([]byte, 10)...) // link padding must be ignored
	var p Parsed
	if r := p.Decode(f); r != OK {
		t.Fatalf("Decode: %v", r)
	}
	if !p.Tagged || p.VLAN != 42 || p.L3Off != 18 || p.End != 18+20+8+1 {
		t.Fatalf("vlan/offsets: %+v", p)
	}
	if p.SrcPort != 1000 || p.DstPort != 2000 {
		t.Fatal("ports")
	}
}

func TestDecodeICMPEcho(t *testing.T) {
	ip := ipv4(layers.IPProtocolICMPv4)
	f := build(t, eth(layers.EthernetTypeIPv4), ip,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 777, Seq: 1})
	var p Parsed
	if r := p.Decode(f); r != OK {
		t.Fatal(r)
	}
	if p.ICMPType != ICMPEchoRequest || p.SrcPort != 777 || p.DstPort != 777 {
		t.Fatalf("%+v", p)
	}
}

func TestDecodeErrors(t *testing.T) {
	ip := ipv4(layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 1, DstPort: 2, ACK: true}
	tcp.SetNetworkLayerForChecksum(ip)
	good := build(t, eth(layers.EthernetTypeIPv4), ip, tcp)
	var p Parsed
	if p.Decode(good) != OK {
		t.Fatal("good frame does not decode")
	}
	// Every truncation of the datagram is an error, never a panic (bytes
	// past p.End are the serializer's minimum-frame padding).
	for n := 0; n < p.End; n++ {
		if r := p.Decode(good[:n]); r == OK {
			t.Fatalf("truncated to %d bytes decoded OK", n)
		}
	}
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	cases := map[string]struct {
		b    []byte
		want Result
	}{
		"arp":        {mut(func(b []byte) { b[12], b[13] = 0x08, 0x06 }), NotIP},
		"version":    {mut(func(b []byte) { b[14] = 0x65 }), ErrIPVersion},
		"ihl":        {mut(func(b []byte) { b[14] = 0x44 }), ErrIPHeaderLen},
		"totlen big": {mut(func(b []byte) { b[16], b[17] = 0xff, 0xff }), ErrIPTotalLen},
		"tcp offset": {mut(func(b []byte) { b[14+20+12] = 0x40 }), ErrTCPOffset},
		"fragment":   {mut(func(b []byte) { b[20], b[21] = 0x00, 0x10 }), Fragment},
	}
	for name, c := range cases {
		if r := p.Decode(c.b); r != c.want {
			t.Errorf("%s: got %v want %v", name, r, c.want)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	ip := ipv4(layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 1, DstPort: 2}
	udp.SetNetworkLayerForChecksum(ip)
	f := build(t, eth(layers.EthernetTypeIPv4), ip, udp)
	var p Parsed
	if a := testing.AllocsPerRun(1000, func() { p.Decode(f) }); a != 0 {
		t.Fatalf("Decode allocates %v per run", a)
	}
}

func FuzzDecode(f *testing.F) {
	ip := ipv4(layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true}
	tcp.SetNetworkLayerForChecksum(ip)
	f.Add(build(f, eth(layers.EthernetTypeIPv4), ip, tcp))
	f.Add(build(f, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Parsed
		r := p.Decode(b)
		if r == OK || r == Fragment {
			if p.L4Off > p.End || p.End > len(b) || p.L3Off+IPv4MinLen > p.L4Off {
				t.Fatalf("offsets out of bounds: %+v len %d", p, len(b))
			}
			_ = p.IP(b).Checksum()
			if r == OK && p.Proto == ProtoTCP {
				TCP(p.L4(b)).WindowScale()
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	ip := ipv4(layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 1, DstPort: 2}
	udp.SetNetworkLayerForChecksum(ip)
	f := build(b, eth(layers.EthernetTypeIPv4), ip, udp)
	var p Parsed
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.Decode(f)
	}
}

// TestUDPLength: a UDP length under 8 or past the IP payload is refused,
// except in a first fragment, whose UDP length covers the whole datagram.
func TestUDPLength(t *testing.T) {
	f := make([]byte, EthernetLen+IPv4MinLen+UDPLen+4)
	Ethernet(f).SetEtherType(EtherTypeIPv4)
	ip := IPv4(f[EthernetLen:])
	ip.Encode(IPv4Fields{TotalLen: uint16(IPv4MinLen + UDPLen + 4), TTL: 64, Protocol: ProtoUDP})
	u := UDP(f[EthernetLen+IPv4MinLen:])
	var p Parsed
	for _, tc := range []struct {
		ulen uint16
		want Result
	}{{12, OK}, {8, OK}, {0, ErrUDPLength}, {7, ErrUDPLength}, {13, ErrUDPLength}} {
		u.SetLength(tc.ulen)
		if r := p.Decode(f); r != tc.want {
			t.Errorf("UDP length %d: %v, want %v", tc.ulen, r, tc.want)
		}
	}
	u.SetLength(4000)
	f[EthernetLen+6] |= 0x20 // MF: a first fragment
	if r := p.Decode(f); r != OK {
		t.Errorf("first fragment with the datagram's UDP length: %v, want ok", r)
	}
}
