package datapath

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// TestTwoTenantsSameAddress sends the same inner packet (10.199.100.10:7000
// -> 172.31.6.24:53) from two tenants behind two gateway routers. Their
// connections live in different zones, leave with different external
// addresses, and the replies return to each tenant's own VNI and chassis.
func TestTwoTenantsSameAddress(t *testing.T) {
	h := newHarness(t, seedtest.Example("two-tenants.yaml"), conntrack.Config{})
	x := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 7000, DPort: 53, Payload: []byte("q")}
	grbJoin := seedtest.MustHW("ae:dd:dd:e4:9e:58")
	drbJoin := seedtest.MustHW("ae:bc:bc:4f:98:7c")
	tenants := []struct {
		name             string
		vni              uint32
		drMAC, grMAC     net.HardwareAddr
		snat             net.IP
		replyVNI         uint32
		chassis          net.IP
		vmMAC, routerMAC net.HardwareAddr
	}{
		{"a", 1, seedtest.MACDRJoin, seedtest.MACGRJoin, net.IP{203, 0, 113, 1}, 9, net.IP{172, 31, 1, 21}, seedtest.MACVM, seedtest.MACDRSw1},
		// Tenant b's VM has a dnat_and_snat (floating) address, which
		// wins over the /24 SNAT rule.
		{"b", 2, drbJoin, grbJoin, net.IP{203, 0, 113, 20}, 10, net.IP{172, 31, 1, 22}, seedtest.MustHW("00:00:19:92:00:10"), seedtest.MustHW("ae:8d:8d:55:ba:26")},
	}
	for _, tn := range tenants {
		out := h.run(flow.Underlay, seedtest.Geneve(t, tn.chassis, seedtest.VTEP, tn.vni, 1, 2, seedtest.InnerIPv4(t, tn.drMAC, tn.grMAC, seedtest.VM, seedtest.Server, x)))
		wantTX(t, out, flow.External)
		ip := seedtest.Decode(out.Frame()).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp := seedtest.Decode(out.Frame()).Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ip.SrcIP.Equal(tn.snat) {
			t.Fatalf("tenant %s leaves as %v, want %v", tn.name, ip.SrcIP, tn.snat)
		}
		back := h.run(flow.External, seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, tn.snat,
			seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: uint16(udp.SrcPort), Payload: []byte("a")}))
		wantTX(t, back, flow.Underlay)
		seedtest.CheckChecksums(t, back.Frame())
		pk := seedtest.Decode(back.Frame())
		g := pk.Layer(layers.LayerTypeGeneve).(*layers.Geneve)
		var ips []*layers.IPv4
		var eths []*layers.Ethernet
		for _, l := range pk.Layers() {
			switch v := l.(type) {
			case *layers.IPv4:
				ips = append(ips, v)
			case *layers.Ethernet:
				eths = append(eths, v)
			}
		}
		if g.VNI != tn.replyVNI || !ips[0].DstIP.Equal(tn.chassis) || !ips[1].DstIP.Equal(seedtest.VM) ||
			!bytes.Equal(eths[1].DstMAC, tn.vmMAC) || !bytes.Equal(eths[1].SrcMAC, tn.routerMAC) {
			t.Fatalf("tenant %s reply: vni %d to %v, inner %v -> %v %v", tn.name, g.VNI, ips[0].DstIP, eths[1].SrcMAC, eths[1].DstMAC, ips[1].DstIP)
		}
		inner := pk.Layers()[len(pk.Layers())-2].(*layers.UDP)
		if inner.DstPort != 7000 {
			t.Fatalf("tenant %s reply to port %d, want 7000", tn.name, inner.DstPort)
		}
	}
	zones := map[uint16]int{}
	h.ct.Range(func(c conntrack.ConnInfo) bool { zones[c.Orig.Zone]++; return true })
	if len(zones) != 4 || zones[6] != 1 || zones[16] != 1 || zones[7] != 1 || zones[17] != 1 {
		t.Fatalf("conntrack zones %v, want one entry in each of 6, 16, 7, 17", zones)
	}
}

// TestDNATInbound: a new connection from the internet to tenant b's
// floating address is DNATed to its VM and reaches its chassis; the VM's
// answer leaves from the floating address.
func TestDNATInbound(t *testing.T) {
	h := newHarness(t, seedtest.Example("two-tenants.yaml"), conntrack.Config{})
	fip := net.IP{203, 0, 113, 20}
	in := h.run(flow.External, seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, fip,
		seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 33333, DPort: 80, SYN: true, Seq: 1}))
	wantTX(t, in, flow.Underlay)
	seedtest.CheckChecksums(t, in.Frame())
	pk := seedtest.Decode(in.Frame())
	if g := pk.Layer(layers.LayerTypeGeneve).(*layers.Geneve); g.VNI != 10 {
		t.Fatalf("DNAT inbound VNI %d, want tenant b's switch (10)", g.VNI)
	}
	var inner *layers.IPv4
	for _, l := range pk.Layers() {
		if v, ok := l.(*layers.IPv4); ok {
			inner = v
		}
	}
	if !inner.DstIP.Equal(seedtest.VM) {
		t.Fatalf("DNAT inbound reaches %v, want %v", inner.DstIP, seedtest.VM)
	}
	out := h.run(flow.Underlay, seedtest.Geneve(t, net.IP{172, 31, 1, 22}, seedtest.VTEP, 2, 1, 2,
		seedtest.InnerIPv4(t, seedtest.MustHW("ae:bc:bc:4f:98:7c"), seedtest.MustHW("ae:dd:dd:e4:9e:58"), seedtest.VM, seedtest.Server,
			seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 80, DPort: 33333, SYN: true, ACK: true, Seq: 9, AckNum: 2})))
	wantTX(t, out, flow.External)
	seedtest.CheckChecksums(t, out.Frame())
	ip := seedtest.Decode(out.Frame()).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !ip.SrcIP.Equal(fip) {
		t.Fatalf("the VM's answer leaves as %v, want the floating address %v", ip.SrcIP, fip)
	}
}
