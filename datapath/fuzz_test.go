package datapath

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/pkttest"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// FuzzPipeline feeds arbitrary frames to both ports of a pipeline loaded
// with the seed topology; checkProcessed says what must hold.
func FuzzPipeline(f *testing.F) {
	f.Add(seedtest.Egress(f, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 47190, DPort: 22, SYN: true}), false)
	f.Add(seedtest.Egress(f, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5000, DPort: 53}), false)
	f.Add(seedtest.Egress(f, seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 9}), false)
	f.Add(seedtest.Reply(f, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 22, DPort: 47190, SYN: true, ACK: true}), true)
	f.Add(seedtest.Reply(f, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5000}), true)
	h := newHarness(f, seedtest.ConfigPath(), conntrack.Config{Capacity: 4096})
	f.Fuzz(func(t *testing.T, frame []byte, external bool) {
		checkProcessed(t, h, frame, external)
	})
}

// FuzzPipeline6 runs arbitrary frames through the dual-stack pipeline
// (testdata/dual-stack-v4.yaml) from either side, seeded with IPv6 input:
// inner IPv6 over the IPv4 and over the IPv6 underlay (NAT66 and routed,
// TCP, UDP, ICMPv6 echo, extension headers, ND over Geneve) and IPv6 from
// the external side (replies, ND, ICMPv6 errors); checkProcessed says what
// must hold.
func FuzzPipeline6(f *testing.F) {
	syn, synack := d6SYN, d6SYNACK
	echo := seedtest.L4{Proto: layers.IPProtocolICMPv6, ICMPID: 7, Payload: []byte("ping")}
	for _, g := range goldens6 {
		f.Add(g.egress(f), false)
		f.Add(seedtest.InnerIPv6(f, seedtest.MACNextHop, seedtest.MACGRExt, ipOf(d6Server), ipOf(g.external()), synack), true)
	}
	f.Add(egress6(f, d6VM1, 64, 40000), false)
	f.Add(egress6(f, d6VM2, 2, 40001), false)
	f.Add(seedtest.Geneve(f, seedtest.Chassis, seedtest.VTEP, 1, 1, 2,
		seedtest.InnerIPv6(f, seedtest.MACDRJoin, seedtest.MACGRJoin, ipOf(d6VM1), ipOf(d6Server), echo)), false)
	f.Add(seedtest.Geneve6(f, ipOf(d6Node03), ipOf(d6VTEP6), 1, 1, 2,
		seedtest.InnerIPv6(f, seedtest.MACDRJoin, seedtest.MACGRJoin, ipOf(d6VM4), ipOf(d6Server), syn)), false)
	f.Add(seedtest.Geneve6(f, ipOf(d6Node03), ipOf(d6VTEP6), 1, 1, 2,
		pkttest.IPv6Frame(f, seedtest.MACDRJoin, seedtest.MACGRJoin, &layers.IPv6{HopLimit: 63, NextHeader: layers.IPProtocolUDP, SrcIP: ipOf(d6VM3), DstIP: ipOf(d6Server)},
			[]pkttest.Ext{pkttest.HopByHop(1), pkttest.DstOpts(2), pkttest.Fragment(0, true, 9)}, &layers.UDP{SrcPort: 40006, DstPort: 53}, gopacket.Payload("frag"))), false)
	f.Add(reply6(f, d6SNAT, 40000), true)
	f.Add(reply6(f, d6VM2, 40001), true)
	f.Add(seedtest.Geneve(f, seedtest.Chassis, seedtest.VTEP, 1, 1, 0x8001,
		nsFrame(f, nsSpec{src: packet.MustIP6("fd00:16::2"), dst: d6GRJoin.SolicitedNode(), target: d6GRJoin, slla: true})), false)
	f.Add(nsFrame(f, nsSpec{src: d6NextHop, dst: d6SNAT.SolicitedNode(), target: d6SNAT, slla: true}), true)
	f.Add(v6Frame(f, packet.MAC(seedtest.MACNextHop), packet.MAC(seedtest.MACGRExt), d6NextHop, d6SNAT, 64, nil, layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypePacketTooBig, 0)}, gopacket.Payload(make([]byte, 52))), true)
	f.Add(under6(f, v6Frame(f, macDR, macGR, d6VM3, d6Server, 64, nil, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: 40005, DstPort: 53}, gopacket.Payload("query")), d6Node03), false)
	// IPv4 and ARP over the IPv6 underlay (underlay6.go), a hairpin to a
	// dnat_and_snat IPv6 address (hairpin6).
	f.Add(under6(f, seedtest.InnerIPv4(f, seedtest.MACDRJoin, seedtest.MACGRJoin, d4VM4, seedtest.Server,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 40010, DPort: 53}), d6Node03), false)
	f.Add(under6(f, seedtest.Serialize(f,
		&layers.Ethernet{SrcMAC: seedtest.MACDRJoin, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: seedtest.MACDRJoin, SourceProtAddress: []byte{172, 16, 255, 2},
			DstHwAddress: make([]byte, 6), DstProtAddress: []byte{172, 16, 255, 3}}), d6Node03), false)
	f.Add(seedtest.Geneve(f, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, v6Frame(f, macDR, macGR, d6VM1, d6VM4Float, 64, nil,
		layers.IPProtocolUDP, &layers.UDP{SrcPort: 40020, DstPort: 53}, gopacket.Payload("hairpin"))), false)
	// IPv6 fragments (frag.go's fragment6): a later one first (held),
	// then its first (which releases it), and a reply's later fragment.
	fs := egress6Fragments(f, d6VM1, 0x70000007)
	f.Add(fs[1], false)
	f.Add(fs[0], false)
	f.Add(reply6Fragments(f, d6SNAT, 40000, 8)[2], true)
	h := newHarness6(f)
	f.Fuzz(func(t *testing.T, frame []byte, external bool) {
		checkProcessed(t, h, frame, external)
	})
}

// checkProcessed runs frame through h from the underlay or the external
// side and checks what every input must give: no panic; one verdict, a
// transmitted frame inside its buffer and on a real port, a drop with a
// reason; and counters that agree with it: one more RX on the port, one
// more verdict of its kind for it and each fragment it released
// (Worker.Extra), every drop in Drops by its reason and no other drops,
// every TX in TX by port.
func checkProcessed(t *testing.T, h *harness, frame []byte, external bool) {
	t.Helper()
	port := flow.Underlay
	if external {
		port = flow.External
	}
	before := h.pl.Stats()
	p := h.run(port, frame)
	after := h.pl.Stats()
	switch p.Verdict {
	case VerdictTX:
		if p.Off < 0 || p.Len < 14 || p.Off+p.Len > len(p.Buf) || p.OutPort >= flow.NumPorts {
			t.Fatalf("transmitted frame out of bounds: off %d len %d buf %d port %v", p.Off, p.Len, len(p.Buf), p.OutPort)
		}
	case VerdictDrop:
		if p.Reason == DropNone || p.Reason >= NumDrops {
			t.Fatalf("drop without a reason: %v", p.Reason)
		}
		if after.Drops[p.Reason] == before.Drops[p.Reason] {
			t.Fatalf("drop %v not counted", p.Reason)
		}
	case VerdictPass, VerdictHeld:
	default:
		t.Fatalf("no verdict: %v", p.Verdict)
	}
	var verdicts, drops, tx, rx uint64
	for i := range after.Verdicts {
		verdicts += after.Verdicts[i] - before.Verdicts[i]
	}
	for i := range after.Drops {
		drops += after.Drops[i] - before.Drops[i]
	}
	for i := range after.TX {
		tx += after.TX[i] - before.TX[i]
		rx += after.RX[i] - before.RX[i]
	}
	want := uint64(1 + len(h.w.Extra()))
	switch {
	case rx != 1 || after.RX[port] != before.RX[port]+1:
		t.Fatalf("RX went up by %d (port %v by %d), want 1 on it", rx, port, after.RX[port]-before.RX[port])
	case verdicts != want:
		t.Fatalf("verdicts went up by %d, want %d (the frame and %d released fragments)", verdicts, want, want-1)
	case after.Verdicts[p.Verdict] == before.Verdicts[p.Verdict]:
		t.Fatalf("verdict %v not counted", p.Verdict)
	case drops != after.Verdicts[VerdictDrop]-before.Verdicts[VerdictDrop]:
		t.Fatalf("drops by reason went up by %d, drop verdicts by %d", drops, after.Verdicts[VerdictDrop]-before.Verdicts[VerdictDrop])
	case after.Drops[DropNone] != 0:
		t.Fatalf("%d drops counted without a reason", after.Drops[DropNone])
	case tx != after.Verdicts[VerdictTX]-before.Verdicts[VerdictTX]:
		t.Fatalf("TX by port went up by %d, TX verdicts by %d", tx, after.Verdicts[VerdictTX]-before.Verdicts[VerdictTX])
	case p.Verdict == VerdictTX && after.TX[p.OutPort] == before.TX[p.OutPort]:
		t.Fatalf("TX on %v not counted", p.OutPort)
	}
}
