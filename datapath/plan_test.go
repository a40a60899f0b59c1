package datapath

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// TestDNATAndSNATPortRange: the SNAT side of a dnat_and_snat rule allocates
// source ports from the rule's port_range, as config documents, rather than
// from 1-65535. Tenant b's floating-IP VM opens a connection from port 7000,
// outside the range; it leaves from its floating address with a port inside
// the range, and the reply to that port reaches the VM's port 7000.
func TestDNATAndSNATPortRange(t *testing.T) {
	const lo, hi = 40000, 40009
	src, err := os.ReadFile(seedtest.Example("two-tenants.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const rule = "{ type: dnat_and_snat, logical_ip: 10.199.100.10, external_ip: 203.0.113.20 }"
	if !strings.Contains(string(src), rule) {
		t.Fatalf("examples/two-tenants.yaml no longer has %s", rule)
	}
	withRange := strings.Replace(string(src), rule,
		"{ type: dnat_and_snat, logical_ip: 10.199.100.10, external_ip: 203.0.113.20, port_range: 40000-40009 }", 1)
	path := filepath.Join(t.TempDir(), "two-tenants-port-range.yaml")
	if err := os.WriteFile(path, []byte(withRange), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, path, conntrack.Config{})

	fip := net.IP{203, 0, 113, 20}
	x := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 7000, DPort: 53, Payload: []byte("q")}
	out := h.run(flow.Underlay, seedtest.Geneve(t, net.IP{172, 31, 1, 22}, seedtest.VTEP, 2, 1, 2,
		seedtest.InnerIPv4(t, seedtest.MustHW("ae:bc:bc:4f:98:7c"), seedtest.MustHW("ae:dd:dd:e4:9e:58"), seedtest.VM, seedtest.Server, x)))
	wantTX(t, out, flow.External)
	seedtest.CheckChecksums(t, out.Frame())
	pk := seedtest.Decode(out.Frame())
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if !ip.SrcIP.Equal(fip) {
		t.Fatalf("leaves as %v, want the floating address %v", ip.SrcIP, fip)
	}
	if udp.SrcPort < lo || udp.SrcPort > hi {
		t.Fatalf("leaves from port %d, want one in the rule's port_range %d-%d", udp.SrcPort, lo, hi)
	}

	back := h.run(flow.External, seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, fip,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: uint16(udp.SrcPort), Payload: []byte("a")}))
	wantTX(t, back, flow.Underlay)
	seedtest.CheckChecksums(t, back.Frame())
	bk := seedtest.Decode(back.Frame())
	inner := bk.Layers()[len(bk.Layers())-2].(*layers.UDP)
	if inner.DstPort != 7000 {
		t.Fatalf("reply reaches port %d, want 7000", inner.DstPort)
	}
}

// TestDNATAndSNATKeepsPorts: without a port_range a floating IP is its
// VM's alone (OVN's dnat_and_snat), so even a privileged source port (an
// NTP client's 123) leaves unchanged.
func TestDNATAndSNATKeepsPorts(t *testing.T) {
	h := newHarness(t, seedtest.Example("two-tenants.yaml"), conntrack.Config{})
	x := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 123, DPort: 123, Payload: []byte("ntp")}
	out := h.run(flow.Underlay, seedtest.Geneve(t, net.IP{172, 31, 1, 22}, seedtest.VTEP, 2, 1, 2,
		seedtest.InnerIPv4(t, seedtest.MustHW("ae:bc:bc:4f:98:7c"), seedtest.MustHW("ae:dd:dd:e4:9e:58"), seedtest.VM, seedtest.Server, x)))
	wantTX(t, out, flow.External)
	pk := seedtest.Decode(out.Frame())
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if !ip.SrcIP.Equal(net.IP{203, 0, 113, 20}) || udp.SrcPort != 123 {
		t.Fatalf("leaves as %v:%d, want 203.0.113.20:123", ip.SrcIP, udp.SrcPort)
	}
}
