package bpf

import (
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

const (
	xdpPass     = 2
	xdpRedirect = 4
)

var (
	testVTEP = netip.MustParseAddr("192.0.2.1")
	testNAT  = netip.MustParseAddr("203.0.113.7")
	testHost = netip.MustParseAddr("192.0.2.9") // the host's own address
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: loads XDP programs and runs BPF_PROG_RUN")
	}
}

func loadTest(t testing.TB) *Objects {
	t.Helper()
	needRoot(t)
	o, err := Load(Options{VTEP: testVTEP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	if err := o.AddNATAddr(testNAT); err != nil {
		t.Fatal(err)
	}
	return o
}

// pkt describes a test frame; zero fields get defaults.
type pkt struct {
	vlan     bool
	dst      netip.Addr
	proto    layers.IPProtocol
	dport    uint16
	fragment bool
}

func (p pkt) build(t testing.TB) []byte {
	t.Helper()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 1},
		DstMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{
		Version: 4, IHL: 5, TTL: 64, Protocol: p.proto,
		SrcIP: net.IP{198, 51, 100, 1}, DstIP: p.dst.AsSlice(),
	}
	if p.fragment {
		ip.Flags = layers.IPv4MoreFragments
	}
	ls := []gopacket.SerializableLayer{eth}
	if p.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4})
	}
	ls = append(ls, ip)
	payload := gopacket.Payload(make([]byte, 32))
	switch p.proto {
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(p.dport)}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp, payload)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload)
	default:
		ls = append(ls, payload)
	}
	return seedtest.Serialize(t, ls...)
}

// arpFrame is an ARP request for the host's address: the kernel's.
func arpFrame(t testing.TB) []byte { return arpFor(testHost, layers.ARPRequest, false)(t) }

// arpFor builds an ARP frame (op) whose target is ip, 802.1Q-tagged if vlan.
func arpFor(ip netip.Addr, op uint16, vlan bool) func(t testing.TB) []byte {
	return func(t testing.TB) []byte {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
		ls := []gopacket.SerializableLayer{eth}
		if vlan {
			eth.EthernetType = layers.EthernetTypeDot1Q
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeARP})
		}
		return seedtest.Serialize(t, append(ls, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: op, SourceHwAddress: []byte{2, 0, 0, 0, 0, 1}, SourceProtAddress: []byte{198, 51, 100, 1},
			DstHwAddress: make([]byte, 6), DstProtAddress: ip.AsSlice()})...)
	}
}

func ipv6Frame(t testing.TB) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	udp := &layers.UDP{SrcPort: 1, DstPort: 6081}
	udp.SetNetworkLayerForChecksum(ip)
	return seedtest.Serialize(t, &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv6},
		ip, udp, gopacket.Payload(make([]byte, 8)))
}

// run returns the verdict of one BPF_PROG_RUN.
func run(t testing.TB, p *ebpf.Program, frame []byte) uint32 {
	t.Helper()
	ret, err := p.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("prog run (%d bytes): %v", len(frame), err)
	}
	return ret
}

type verdictCase struct {
	name  string
	frame func(t testing.TB) []byte
	stat  func(*Stats) *Counter // which counter must move by one
}

func verdictCases() []verdictCase {
	geneve := pkt{dst: testVTEP, proto: layers.IPProtocolUDP, dport: 6081}
	return []verdictCase{
		{"geneve to vtep", geneve.build, nil},
		{"geneve to vtep vlan", pkt{vlan: true, dst: testVTEP, proto: layers.IPProtocolUDP, dport: 6081}.build, nil},
		{"udp to nat addr", pkt{dst: testNAT, proto: layers.IPProtocolUDP, dport: 53}.build, nil},
		{"icmp to nat addr", pkt{dst: testNAT, proto: layers.IPProtocolICMPv4}.build, nil},
		{"fragment to nat addr", pkt{dst: testNAT, proto: layers.IPProtocolUDP, dport: 53, fragment: true}.build, nil},
		// xgw answers ARP for its NAT addresses as their router would.
		{"arp request for nat addr", arpFor(testNAT, layers.ARPRequest, false), nil},
	}
}

func passCases() []verdictCase {
	pass := func(s *Stats) *Counter { return &s.Pass }
	bad := func(s *Stats) *Counter { return &s.Malformed }
	geneve := func(t testing.TB) []byte {
		return pkt{dst: testVTEP, proto: layers.IPProtocolUDP, dport: 6081}.build(t)
	}
	trunc := func(n int) func(t testing.TB) []byte {
		return func(t testing.TB) []byte { return geneve(t)[:n] }
	}
	return []verdictCase{
		{"arp", arpFrame, pass},
		{"arp request for another addr", arpFor(netip.MustParseAddr("198.51.100.77"), layers.ARPRequest, false), pass},
		{"arp reply from nat addr", arpFor(testNAT, layers.ARPReply, false), pass},
		{"tagged arp request for nat addr", arpFor(testNAT, layers.ARPRequest, true), pass},
		{"truncated arp request for nat addr", func(t testing.TB) []byte { return arpFor(testNAT, layers.ARPRequest, false)(t)[:14+27] }, pass},
		{"ipv6", ipv6Frame, pass},
		{"udp to vtep other port", pkt{dst: testVTEP, proto: layers.IPProtocolUDP, dport: 6082}.build, pass},
		{"icmp to vtep", pkt{dst: testVTEP, proto: layers.IPProtocolICMPv4}.build, pass},
		{"geneve fragment to vtep", pkt{dst: testVTEP, proto: layers.IPProtocolUDP, dport: 6081, fragment: true}.build, pass},
		{"udp to host", pkt{dst: testHost, proto: layers.IPProtocolUDP, dport: 6081}.build, pass},
		{"truncated eth only", trunc(14), bad},
		{"truncated ip", trunc(14 + 19), bad},
		{"truncated udp", trunc(14 + 20 + 7), bad},
		{"truncated vlan", func(t testing.TB) []byte {
			return pkt{vlan: true, dst: testVTEP, proto: layers.IPProtocolUDP, dport: 6081}.build(t)[:16]
		}, bad},
		{"bad ihl", func(t testing.TB) []byte { f := geneve(t); f[14] = 0x44; return f }, bad},
		{"ihl past end", func(t testing.TB) []byte { f := geneve(t)[:14+24]; f[14] = 0x4f; return f }, bad},
	}
}

func TestPassVerdicts(t *testing.T) {
	o := loadTest(t)
	for _, c := range passCases() {
		t.Run(c.name, func(t *testing.T) {
			before, _ := o.Stats()
			if v := run(t, o.Program(), c.frame(t)); v != xdpPass {
				t.Fatalf("verdict %d, want XDP_PASS", v)
			}
			after, _ := o.Stats()
			if d := c.stat(&after).Packets - c.stat(&before).Packets; d != 1 {
				t.Fatalf("counter moved by %d, want 1", d)
			}
		})
	}
}

// Without a socket on the queue, steered frames fall back to XDP_PASS and
// count as NoSocket; TestRedirectWithSocket (package bpf_test) covers the
// redirect itself.
func TestNoSocketFallback(t *testing.T) {
	o := loadTest(t)
	for _, c := range verdictCases() {
		t.Run(c.name, func(t *testing.T) {
			before, _ := o.Stats()
			if v := run(t, o.Program(), c.frame(t)); v != xdpPass {
				t.Fatalf("verdict %d, want XDP_PASS fallback", v)
			}
			after, _ := o.Stats()
			if d := after.NoSocket.Packets - before.NoSocket.Packets; d != 1 {
				t.Fatalf("NoSocket moved by %d, want 1", d)
			}
		})
	}
}

func TestNATAddrRemove(t *testing.T) {
	o := loadTest(t)
	f := pkt{dst: testNAT, proto: layers.IPProtocolUDP, dport: 53}.build(t)
	if err := o.RemoveNATAddr(testNAT); err != nil {
		t.Fatal(err)
	}
	if err := o.RemoveNATAddr(testNAT); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	before, _ := o.Stats()
	run(t, o.Program(), f)
	after, _ := o.Stats()
	if after.Pass.Packets-before.Pass.Packets != 1 {
		t.Fatal("frame to a removed NAT address was not passed")
	}
}

func TestGenevePortOption(t *testing.T) {
	needRoot(t)
	o, err := Load(Options{VTEP: testVTEP, GenevePort: 7000})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	before, _ := o.Stats()
	run(t, o.Program(), pkt{dst: testVTEP, proto: layers.IPProtocolUDP, dport: 6081}.build(t))
	run(t, o.Program(), pkt{dst: testVTEP, proto: layers.IPProtocolUDP, dport: 7000}.build(t))
	after, _ := o.Stats()
	if after.Pass.Packets-before.Pass.Packets != 1 || after.NoSocket.Packets-before.NoSocket.Packets != 1 {
		t.Fatalf("port 7000: want 6081 passed and 7000 steered, got %+v -> %+v", before, after)
	}
}

func TestXDPPassProgram(t *testing.T) {
	o := loadTest(t)
	if v := run(t, o.PassProgram(), arpFrame(t)); v != xdpPass {
		t.Fatalf("xdp_pass verdict %d", v)
	}
}

// TestNATHostARPPasses: a NAT address that is also the host's (NATHost)
// is steered for IPv4 in its SNAT port range (hostaddr_test.go), but ARP
// for it stays with the kernel, which owns the address and answers.
func TestNATHostARPPasses(t *testing.T) {
	o := loadTest(t)
	if err := o.SetNATAddr(testNAT, NATHost); err != nil {
		t.Fatal(err)
	}
	if err := o.SetHostPorts(testNAT, 53, 53); err != nil {
		t.Fatal(err)
	}
	before, _ := o.Stats()
	if v := run(t, o.Program(), arpFor(testNAT, layers.ARPRequest, false)(t)); v != xdpPass {
		t.Fatalf("ARP for a host NAT address: verdict %d", v)
	}
	run(t, o.Program(), pkt{dst: testNAT, proto: layers.IPProtocolUDP, dport: 53}.build(t))
	after, _ := o.Stats()
	if after.Pass.Packets-before.Pass.Packets != 1 || after.NoSocket.Packets-before.NoSocket.Packets != 1 {
		t.Fatalf("want the ARP passed and the UDP steered: %+v -> %+v", before, after)
	}
	// Back to a plain NAT address: its ARP is steered again.
	if err := o.SetNATAddr(testNAT, 0); err != nil {
		t.Fatal(err)
	}
	run(t, o.Program(), arpFor(testNAT, layers.ARPRequest, false)(t))
	if again, _ := o.Stats(); again.NoSocket.Packets-after.NoSocket.Packets != 1 {
		t.Fatalf("ARP for a plain NAT address not steered: %+v", again)
	}
}
