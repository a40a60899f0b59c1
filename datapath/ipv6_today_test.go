package datapath

import (
	"net"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// TestIPv6KeepsTodaysVerdicts pins what the pipeline does with IPv6 in a
// topology without IPv6 (the seed's): an IPv6 frame inside Geneve reaches
// the gateway router's IPv6 pipeline (egress6.go), which has no IPv6 route
// for it (no-route); an IPv6 frame on the external side that is for no
// address of ours, and Geneve over an IPv6 underlay (not wired yet), are
// the kernel's, by the pipeline and by the flow cache alike.
func TestIPv6KeepsTodaysVerdicts(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	src, dst := packet.MustIP6("fd00:10:199::10"), packet.MustIP6("2001:db8:31::6:24")
	ip := &layers.IPv6{Version: 6, HopLimit: 63, NextHeader: layers.IPProtocolUDP, SrcIP: net.IP(src[:]), DstIP: net.IP(dst[:])}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 53}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	inner := seedtest.Serialize(t, &layers.Ethernet{SrcMAC: seedtest.MACDRJoin, DstMAC: seedtest.MACGRJoin, EthernetType: layers.EthernetTypeIPv6}, ip, udp)
	external := seedtest.Serialize(t, &layers.Ethernet{SrcMAC: seedtest.MACNextHop, DstMAC: seedtest.MACGRExt, EthernetType: layers.EthernetTypeIPv6}, ip, udp)

	// Geneve over IPv6 to the gateway, built by Encap6.
	under := make([]byte, geneve.EncapLen6+len(inner))
	copy(under[geneve.EncapLen6:], inner)
	geneve.Encap6(under, geneve.EncapLen6, len(inner), &geneve.EncapParams6{
		SrcMAC: packet.MAC(seedtest.MACHV), DstMAC: packet.MAC(seedtest.MACGWUnder),
		Src: packet.MustIP6("2001:db8:100::21"), Dst: packet.MustIP6("2001:db8:100::1"), VNI: 1, InPort: 1, OutPort: 2})

	for _, c := range []struct {
		name   string
		in     flow.Port
		frame  []byte
		want   Verdict
		reason Drop
	}{
		{"inner IPv6", flow.Underlay, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, inner), VerdictDrop, DropNoRoute},
		{"external IPv6", flow.External, external, VerdictPass, DropNone},
		{"IPv6 underlay", flow.Underlay, under, VerdictPass, DropNone},
	} {
		for i := 0; i < 2; i++ { // the second time past a warm flow cache
			r := h.run(c.in, c.frame)
			if r.Verdict != c.want || (c.want == VerdictDrop && r.Reason != c.reason) {
				t.Fatalf("%s (run %d): verdict %v reason %v, want %v %v", c.name, i, r.Verdict, r.Reason, c.want, c.reason)
			}
		}
	}
}
