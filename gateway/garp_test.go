package gateway

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/packet"
)

// fakeGARP records gratuitous ARPs; fail makes every send fail.
type fakeGARP struct {
	sent []announcement
	fail bool
}

func (f *fakeGARP) Announce(ip packet.IP4, mac packet.MAC) error {
	if f.fail {
		return errors.New("no route to the wire")
	}
	f.sent = append(f.sent, announcement{ip.Addr(), mac})
	return nil
}

func (f *fakeGARP) Announce6(ip packet.IP6, mac packet.MAC) error {
	if f.fail {
		return errors.New("no route to the wire")
	}
	f.sent = append(f.sent, announcement{ip.Addr(), mac})
	return nil
}

var grExtMAC = packet.MAC{0xae, 0xa9, 0xa9, 0x0c, 0x6f, 0xc8} // gr1-ext in examples/lab.yaml

// TestGARPFrame: the frame is a broadcast ARP request announcing ip at
// mac (sender = target = ip).
func TestGARPFrame(t *testing.T) {
	ip := packet.MustIP4("203.0.113.10")
	pk := gopacket.NewPacket(garpFrame(ip, grExtMAC), layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	a, ok := pk.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || !ok {
		t.Fatalf("does not decode: %v", pk)
	}
	if !bytes.Equal(eth.DstMAC, layers.EthernetBroadcast) || !bytes.Equal(eth.SrcMAC, grExtMAC[:]) {
		t.Fatalf("Ethernet %v -> %v", eth.SrcMAC, eth.DstMAC)
	}
	if a.Operation != layers.ARPRequest || !bytes.Equal(a.SourceHwAddress, grExtMAC[:]) ||
		!bytes.Equal(a.SourceProtAddress, ip[:]) || !bytes.Equal(a.DstProtAddress, ip[:]) || !bytes.Equal(a.DstHwAddress, make([]byte, 6)) {
		t.Fatalf("ARP op %d %v/%v -> %v/%v", a.Operation, net.HardwareAddr(a.SourceHwAddress), net.IP(a.SourceProtAddress),
			net.HardwareAddr(a.DstHwAddress), net.IP(a.DstProtAddress))
	}
}

// TestReloadAnnouncesNewNATAddress: on start every NAT address is
// announced; a reload announces only the address it adds, from the owning
// router's external MAC. The router's own external address, when a rule
// SNATs to it, is the host's: steered with NATHost (ARP stays with the
// kernel) and not announced.
func TestReloadAnnouncesNewNATAddress(t *testing.T) {
	f := newFixture(t)
	g := &fakeGARP{}
	f.r.garp = g
	f.r.announceAll()
	if want := []announcement{{netip.MustParseAddr("203.0.113.10"), grExtMAC}}; !slices.Equal(g.sent, want) {
		t.Fatalf("on start: announced %v, want %v", g.sent, want)
	}

	g.sent = nil
	f.write(t, oldSNAT, newSNAT)
	if _, err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if want := []announcement{{netip.MustParseAddr("203.0.113.11"), grExtMAC}}; !slices.Equal(g.sent, want) {
		t.Fatalf("reload: announced %v, want %v", g.sent, want)
	}
	if fl := f.steer.flags[netip.MustParseAddr("203.0.113.11")]; fl != 0 {
		t.Fatalf("new address flags %d, want 0", fl)
	}

	// SNAT to the router's external address: steered as the host's.
	g.sent = nil
	f.write(t, oldSNAT, "external_ip: 198.51.100.1")
	if _, err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(g.sent) != 0 {
		t.Fatalf("the host's address was announced: %v", g.sent)
	}
	if fl, ok := f.steer.flags[netip.MustParseAddr("198.51.100.1")]; !ok || fl != bpf.NATHost {
		t.Fatalf("router's external address: steered %v flags %d, want NATHost", ok, fl)
	}
	// ...with the host-shared default range: only its traffic is xgw's.
	if pr := f.steer.ports[netip.MustParseAddr("198.51.100.1")]; pr != [2]uint16{config.DefaultHostSNATPortMin, config.DefaultHostSNATPortMax} {
		t.Fatalf("router's external address: port range %v, want %d-%d", pr, config.DefaultHostSNATPortMin, config.DefaultHostSNATPortMax)
	}

	// A failed send is logged, and the reload still applies.
	g.fail = true
	f.write(t, oldSNAT, newSNAT)
	if _, err := f.r.Reload(); err != nil {
		t.Fatalf("a failed gratuitous ARP failed the reload: %v", err)
	}
	if !strings.Contains(f.logs.String(), "gratuitous ARP not sent") {
		t.Fatalf("failure not logged:\n%s", f.logs)
	}
}

// TestNAFrame: the unsolicited neighbour advertisement says ip is at mac
// (target and target link-layer option), to all nodes from ip with hop
// limit 255, override set, solicited and router clear, and its ICMPv6
// checksum verifies.
func TestNAFrame(t *testing.T) {
	ip := netip.MustParseAddr("2001:db8:5::100").As16()
	f := naFrame(ip, grExtMAC)
	pk := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip6, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	na, _ := pk.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if eth == nil || ip6 == nil || na == nil {
		t.Fatalf("does not decode: %v", pk)
	}
	if eth.DstMAC.String() != "33:33:00:00:00:01" || !bytes.Equal(eth.SrcMAC, grExtMAC[:]) {
		t.Fatalf("Ethernet %v -> %v", eth.SrcMAC, eth.DstMAC)
	}
	if !bytes.Equal(ip6.SrcIP, ip[:]) || ip6.DstIP.String() != "ff02::1" || ip6.HopLimit != 255 || int(ip6.Length) != len(f)-54 {
		t.Fatalf("IPv6 %v -> %v hop limit %d length %d", ip6.SrcIP, ip6.DstIP, ip6.HopLimit, ip6.Length)
	}
	if !bytes.Equal(na.TargetAddress, ip[:]) || na.Flags != 0x20 || len(na.Options) != 1 ||
		na.Options[0].Type != layers.ICMPv6OptTargetAddress || !bytes.Equal(na.Options[0].Data, grExtMAC[:]) {
		t.Fatalf("NA target %v flags %#x options %v", na.TargetAddress, na.Flags, na.Options)
	}
	if !packet.L4ChecksumValid6(f[54:], ip, packet.IP6(netip.MustParseAddr("ff02::1").As16()), packet.ProtoICMPv6) {
		t.Fatal("ICMPv6 checksum does not verify")
	}
}

// TestReloadAnnouncesNewNAT66Address: NAT66 addresses are announced on
// start and when a reload adds one (an unsolicited neighbour
// advertisement from the router's external MAC); the router's own
// external IPv6 is the host's and is not.
func TestReloadAnnouncesNewNAT66Address(t *testing.T) {
	f := newFixtureFrom(t, "dual-stack.yaml")
	g := &fakeGARP{}
	f.r.garp = g
	f.r.announceAll()
	want := []announcement{{netip.MustParseAddr("123.123.123.123"), grExtMAC}, {netip.MustParseAddr("2001:db8:5::100"), grExtMAC}}
	if !slices.Equal(g.sent, want) {
		t.Fatalf("on start: announced %v, want %v", g.sent, want)
	}
	g.sent = nil
	f.write(t, oldNAT66, newNAT66)
	if _, err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if want := []announcement{{netip.MustParseAddr("2001:db8:5::101"), grExtMAC}}; !slices.Equal(g.sent, want) {
		t.Fatalf("reload: announced %v, want %v", g.sent, want)
	}
	if !strings.Contains(f.logs.String(), `"msg":"unsolicited neighbour advertisement sent"`) {
		t.Fatalf("not logged:\n%s", f.logs)
	}
}
