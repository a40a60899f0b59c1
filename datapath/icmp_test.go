package datapath

import (
	"net"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// innerICMP checks that out is Geneve to the seed VM's chassis (VNI 9,
// option 1 -> 2, VM's MAC) carrying ICMP from src to the VM with valid
// checksums, and returns the ICMP layer.
func innerICMP(t *testing.T, out Packet, src net.IP) *layers.ICMPv4 {
	t.Helper()
	wantTX(t, out, flow.Underlay)
	seedtest.CheckChecksums(t, out.Frame())
	pk := seedtest.Decode(out.Frame())
	var ips []*layers.IPv4
	for _, l := range pk.Layers() {
		if ip, ok := l.(*layers.IPv4); ok {
			ips = append(ips, ip)
		}
	}
	if len(ips) < 2 {
		t.Fatalf("no inner IPv4 in %v", pk)
	}
	in := ips[1]
	if !in.SrcIP.Equal(src) || !in.DstIP.Equal(seedtest.VM) || in.Protocol != layers.IPProtocolICMPv4 {
		t.Fatalf("inner %v -> %v proto %v, want ICMP %v -> %v", in.SrcIP, in.DstIP, in.Protocol, src, seedtest.VM)
	}
	if in.TTL != 253 {
		t.Fatalf("inner TTL %d, want 253 (255, then the gateway and distributed routers' hops)", in.TTL)
	}
	icmp, ok := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if !ok {
		t.Fatal("no ICMP layer")
	}
	return icmp
}

// wantTimeExceeded checks that out is a time exceeded from the gateway
// router's join port back to the seed VM, quoting its header.
func wantTimeExceeded(t *testing.T, out Packet) {
	t.Helper()
	icmp := innerICMP(t, out, net.IP{172, 16, 255, 3})
	if icmp.TypeCode.Type() != layers.ICMPv4TypeTimeExceeded || icmp.TypeCode.Code() != 0 {
		t.Fatalf("ICMP %v, want time exceeded", icmp.TypeCode)
	}
	q := icmp.Payload
	if len(q) != 28 || q[9] != 17 || !net.IP(q[12:16]).Equal(seedtest.VM) || !net.IP(q[16:20]).Equal(seedtest.Server) {
		t.Fatalf("quote %x: want the expired datagram's IPv4 header and 8 bytes", q)
	}
}

// TestEchoToRouterAnswered: OVN's router answers pings to its join-port
// address; xgw does so from the gateway router, over Geneve to the VM.
func TestEchoToRouterAnswered(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	req := egressFrom(t, seedtest.VM, net.IP{172, 16, 255, 3},
		seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 77, Payload: []byte("ping payload")})
	icmp := innerICMP(t, h.run(flow.Underlay, req), net.IP{172, 16, 255, 3})
	if icmp.TypeCode.Type() != layers.ICMPv4TypeEchoReply || icmp.Id != 77 || string(icmp.Payload) != "ping payload" {
		t.Fatalf("reply %v id %d payload %q", icmp.TypeCode, icmp.Id, icmp.Payload)
	}
	if h.ct.Len() != 0 || h.pl.Stats().ICMPOut != 1 {
		t.Fatalf("conntrack %d entries, ICMP out %d; want 0 and 1", h.ct.Len(), h.pl.Stats().ICMPOut)
	}
	// Anything else to the router's address is still not served.
	wantDrop(t, h.run(flow.Underlay, egressFrom(t, seedtest.VM, net.IP{172, 16, 255, 3}, udpProbe)), DropToRouter)
}

// TestTTLExpiredFromOutside: a reply from the internet whose TTL runs out
// gets time exceeded from the router's external address, routed out of
// the external port to its next hop.
func TestTTLExpiredFromOutside(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	f := seedtest.Reply(t, seedtest.L4{TTL: 1, Proto: layers.IPProtocolUDP, SPort: 53, DPort: 40000, Payload: []byte("a")})
	out := h.run(flow.External, f)
	wantTX(t, out, flow.External)
	seedtest.CheckChecksums(t, out.Frame())
	pk := seedtest.Decode(out.Frame())
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	icmp, _ := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if eth.DstMAC.String() != seedtest.MACNextHop.String() || !ip.SrcIP.Equal(net.IP{172, 31, 5, 230}) ||
		!ip.DstIP.Equal(seedtest.Server) || icmp == nil || icmp.TypeCode.Type() != layers.ICMPv4TypeTimeExceeded {
		t.Fatalf("got %v", pk)
	}
}

// TestICMPRateLimited: a source gets burst messages, then one per 1/rate.
func TestICMPRateLimited(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	h.topo.ICMPRate, h.topo.ICMPBurst = 10, 3
	if err := h.pl.SetTopology(h.topo); err != nil {
		t.Fatal(err)
	}
	f := seedtest.Egress(t, seedtest.L4{TTL: 1, Proto: layers.IPProtocolUDP, SPort: 1, DPort: 2})
	for i := range 3 {
		if out := h.run(flow.Underlay, f); out.Verdict != VerdictTX {
			t.Fatalf("message %d of the burst: %v %v", i, out.Verdict, out.Reason)
		}
	}
	wantDrop(t, h.run(flow.Underlay, f), DropICMPRateLimited)
	h.now += 100_000_000 // 1/rate later: one more token
	wantTimeExceeded(t, h.run(flow.Underlay, f))
	wantDrop(t, h.run(flow.Underlay, f), DropICMPRateLimited)
	// Another source has its own bucket.
	other := egressFrom(t, net.IP{10, 199, 100, 11}, seedtest.Server, seedtest.L4{TTL: 1, Proto: layers.IPProtocolUDP, SPort: 1, DPort: 2})
	if out := h.run(flow.Underlay, other); out.Reason == DropICMPRateLimited {
		t.Fatal("another source was limited by the first one's bucket")
	}
}

// mtuHarness is the seed pipeline with interface MTUs set.
func mtuHarness(t *testing.T, underlay, external int) *harness {
	t.Helper()
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	pl, err := New(Config{Topology: h.topo, Conntrack: h.ct, Neighbors: h.pl.neigh,
		UnderlayMAC: packet.MAC(seedtest.MACGWUnder), Clock: func() int64 { return h.now },
		UnderlayMTU: underlay, ExternalMTU: external})
	if err != nil {
		t.Fatal(err)
	}
	h.pl, h.w = pl, pl.NewWorker()
	return h
}

// TestFragNeededFromOutside: a 1500-byte DF reply that does not fit the
// underlay once encapsulated gets fragmentation needed with the MTU the
// tunnel leaves (1500 - 58), from the router's external address, quoting
// the packet as it was sent (to the SNAT address); without DF it is
// dropped, as xgw does not fragment.
func TestFragNeededFromOutside(t *testing.T) {
	h := mtuHarness(t, 1500, 1500)
	eg := seedtest.Egress(t, udpProbe)
	wantTX(t, h.run(flow.Underlay, eg), flow.External)
	big := seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 40000, Payload: make([]byte, 1500-28)})
	out := h.run(flow.External, big)
	wantTX(t, out, flow.External)
	seedtest.CheckChecksums(t, out.Frame())
	pk := seedtest.Decode(out.Frame())
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	icmp, _ := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if icmp == nil || icmp.TypeCode != layers.CreateICMPv4TypeCode(3, 4) || !ip.SrcIP.Equal(net.IP{172, 31, 5, 230}) || !ip.DstIP.Equal(seedtest.Server) {
		t.Fatalf("got %v", pk)
	}
	if mtu := uint16(icmp.Seq); mtu != 1500-58 {
		t.Fatalf("next-hop MTU %d, want %d", mtu, 1500-58)
	}
	if q := icmp.Payload; len(q) != 28 || !net.IP(q[16:20]).Equal(seedtest.SNAT) {
		t.Fatalf("quote %x: want the packet as sent, to the SNAT address", q)
	}
	// A packet that fits goes through.
	fits := seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 40000, Payload: make([]byte, 1442-28)})
	wantTX(t, h.run(flow.External, fits), flow.Underlay)
	// Without DF: dropped, counted.
	noDF := append([]byte(nil), big...)
	noDF[14+6] &^= 0x40
	noDF[14+10], noDF[14+11] = 0, 0
	packet.IPv4(noDF[14:34]).ComputeChecksum()
	wantDrop(t, h.run(flow.External, noDF), DropTooBig)
}

// TestFragNeededFromVM: a DF packet from a VM larger than the external
// MTU gets fragmentation needed from the gateway router's join port.
func TestFragNeededFromVM(t *testing.T) {
	h := mtuHarness(t, 9000, 1400)
	big := seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 40000, DPort: 53, Payload: make([]byte, 1450)})
	icmp := innerICMP(t, h.run(flow.Underlay, big), net.IP{172, 16, 255, 3})
	if icmp.TypeCode != layers.CreateICMPv4TypeCode(3, 4) || uint16(icmp.Seq) != 1400 {
		t.Fatalf("ICMP %v next-hop MTU %d, want fragmentation needed, 1400", icmp.TypeCode, icmp.Seq)
	}
	if h.ct.Len() != 0 {
		t.Fatalf("%d connections committed for a packet that was refused", h.ct.Len())
	}
}
