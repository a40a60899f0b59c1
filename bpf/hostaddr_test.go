package bpf

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/internal/seedtest"
)

// hostFrame builds a frame from outside to testNAT with l4 (and the IPv4
// flags given) on top of IPv4.
func hostFrame(t testing.TB, proto layers.IPProtocol, frag bool, l4 ...gopacket.SerializableLayer) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.IP{198, 51, 100, 2}, DstIP: testNAT.AsSlice()}
	if frag {
		ip.Flags = layers.IPv4MoreFragments
	}
	for _, l := range l4 {
		switch x := l.(type) {
		case *layers.TCP:
			x.SetNetworkLayerForChecksum(ip)
		case *layers.UDP:
			x.SetNetworkLayerForChecksum(ip)
		}
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	return seedtest.Serialize(t, append([]gopacket.SerializableLayer{eth, ip}, l4...)...)
}

// quoted is an ICMP error of type/code quoting a datagram that testNAT
// sent (src) with proto and source port (or echo id) sport.
func quoted(t testing.TB, typ, code uint8, src net.IP, proto layers.IPProtocol, sport uint16) []byte {
	t.Helper()
	q := &layers.IPv4{Version: 4, IHL: 5, TTL: 1, Protocol: proto, SrcIP: src, DstIP: net.IP{198, 51, 100, 9}}
	var l4 gopacket.SerializableLayer
	switch proto {
	case layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 53}
		u.SetNetworkLayerForChecksum(q)
		l4 = u
	case layers.IPProtocolTCP:
		c := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 179, SYN: true}
		c.SetNetworkLayerForChecksum(q)
		l4 = c
	default:
		l4 = &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: sport}
	}
	inner := seedtest.Serialize(t, q, l4)
	return hostFrame(t, layers.IPProtocolICMPv4, false,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}, gopacket.Payload(inner[:28]))
}

// TestHostAddrSteering: on a NAT address shared with the host (NATHost,
// SNAT range 61000-65535), xdp_gw steers only what can be a reply to
// xgw's SNAT and passes the rest to the kernel, counted as pass-host.
// Without the fix every packet was steered (and the host lost SSH/BGP).
func TestHostAddrSteering(t *testing.T) {
	o := loadTest(t)
	if err := o.SetNATAddr(testNAT, NATHost); err != nil {
		t.Fatal(err)
	}
	if err := o.SetHostPorts(testNAT, 61000, 65535); err != nil {
		t.Fatal(err)
	}
	host := testNAT.AsSlice()
	other := net.IP{192, 0, 2, 77}
	payload := gopacket.Payload(make([]byte, 16))
	for _, tc := range []struct {
		name  string
		frame []byte
		steer bool
	}{
		{"tcp ssh", hostFrame(t, layers.IPProtocolTCP, false, &layers.TCP{SrcPort: 50000, DstPort: 22, SYN: true}), false},
		{"tcp bgp", hostFrame(t, layers.IPProtocolTCP, false, &layers.TCP{SrcPort: 179, DstPort: 45000, ACK: true}), false},
		{"tcp in range", hostFrame(t, layers.IPProtocolTCP, false, &layers.TCP{SrcPort: 80, DstPort: 61000, ACK: true}), true},
		{"udp in range", hostFrame(t, layers.IPProtocolUDP, false, &layers.UDP{SrcPort: 53, DstPort: 65535}, payload), true},
		{"udp below range", hostFrame(t, layers.IPProtocolUDP, false, &layers.UDP{SrcPort: 53, DstPort: 60999}, payload), false},
		{"udp fragment in range", hostFrame(t, layers.IPProtocolUDP, true, &layers.UDP{SrcPort: 53, DstPort: 62000}, payload), false},
		{"echo request", hostFrame(t, layers.IPProtocolICMPv4, false, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 62000}), false},
		{"echo reply in range", hostFrame(t, layers.IPProtocolICMPv4, false, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 62000}), true},
		{"echo reply below", hostFrame(t, layers.IPProtocolICMPv4, false, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 1000}), false},
		{"unreachable quoting udp in range", quoted(t, 3, 3, host, layers.IPProtocolUDP, 61500), true},
		{"time exceeded quoting tcp in range", quoted(t, 11, 0, host, layers.IPProtocolTCP, 64000), true},
		{"unreachable quoting echo in range", quoted(t, 3, 1, host, layers.IPProtocolICMPv4, 61001), true},
		{"unreachable quoting the host's tcp", quoted(t, 3, 4, host, layers.IPProtocolTCP, 40000), false},
		{"unreachable quoting another source", quoted(t, 3, 3, other, layers.IPProtocolUDP, 61500), false},
	} {
		before, _ := o.Stats()
		if v := run(t, o.Program(), tc.frame); v != xdpPass {
			t.Fatalf("%s: verdict %d (no socket: every path passes)", tc.name, v)
		}
		after, _ := o.Stats()
		steered := after.NoSocket.Packets - before.NoSocket.Packets
		passed := after.PassHost.Packets - before.PassHost.Packets
		if tc.steer && (steered != 1 || passed != 0) || !tc.steer && (steered != 0 || passed != 1) {
			t.Fatalf("%s: steered %d passed-host %d, want steer=%v", tc.name, steered, passed, tc.steer)
		}
	}

	// No range: nothing of the address is steered.
	if err := o.RemoveHostPorts(testNAT); err != nil {
		t.Fatal(err)
	}
	before, _ := o.Stats()
	run(t, o.Program(), hostFrame(t, layers.IPProtocolTCP, false, &layers.TCP{SrcPort: 80, DstPort: 61000, ACK: true}))
	if after, _ := o.Stats(); after.PassHost.Packets-before.PassHost.Packets != 1 {
		t.Fatalf("host address without a range steered: %+v", after)
	}
	// A plain NAT address is steered whole, as before.
	if err := o.SetNATAddr(testNAT, 0); err != nil {
		t.Fatal(err)
	}
	before, _ = o.Stats()
	run(t, o.Program(), hostFrame(t, layers.IPProtocolTCP, false, &layers.TCP{SrcPort: 50000, DstPort: 22, SYN: true}))
	if after, _ := o.Stats(); after.NoSocket.Packets-before.NoSocket.Packets != 1 {
		t.Fatalf("plain NAT address not steered: %+v", after)
	}
	if err := o.SetHostPorts(testNAT, 0, 1); err == nil {
		t.Fatal("port range 0-1 accepted")
	}
}
