package datapath

import (
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// TestForwardedByFamily: packets forwarded across the gateway are
// counted by their (inner) family and direction, with the bytes of the
// frames as they left; Egress and Ingress stay the totals.
func TestForwardedByFamily(t *testing.T) {
	h := newHarness6(t)
	var want [NumFamilies][NumDirections]Count
	sent := func(f Family, d Direction, out Packet) {
		t.Helper()
		if out.Verdict != VerdictTX {
			t.Fatalf("%v %v: verdict %v reason %v, want TX", f, d, out.Verdict, out.Reason)
		}
		want[f][d].Packets++
		want[f][d].Bytes += uint64(out.Len)
	}
	// IPv6: two egress datagrams of vm1 (NAT66), one reply.
	out := h.run(flow.Underlay, egress6(t, d6VM1, 64, 40000))
	sent(FamilyIPv6, DirEgress, out)
	sent(FamilyIPv6, DirEgress, h.run(flow.Underlay, egress6(t, d6VM1, 64, 40000)))
	sent(FamilyIPv6, DirIngress, h.run(flow.External, reply6(t, d6SNAT, outIPv6(t, out.Frame()).SrcPort)))
	// IPv4: the seed's egress and its reply.
	eg := h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53}))
	sent(FamilyIPv4, DirEgress, eg)
	var p packet.Parsed
	if p.Decode(eg.Frame()) != packet.OK {
		t.Fatal("IPv4 egress does not decode")
	}
	sent(FamilyIPv4, DirIngress, h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: p.SrcPort})))
	// Dropped IPv6 (hop limit 1 at the router) is not forwarded.
	if r := h.run(flow.Underlay, egress6(t, d6VM1, 1, 40009)); r.Verdict == VerdictTX && r.OutPort == flow.External {
		t.Fatalf("hop limit 1 forwarded")
	}

	s := h.pl.Stats()
	if s.Forwarded != want {
		t.Fatalf("forwarded %+v\nwant      %+v", s.Forwarded, want)
	}
	if s.Egress != 3 || s.Ingress != 2 || s.Hairpin != 0 {
		t.Fatalf("totals egress %d ingress %d hairpin %d, want 3 2 0", s.Egress, s.Ingress, s.Hairpin)
	}
	if want[FamilyIPv6][DirEgress].Bytes == 0 || want[FamilyIPv4][DirIngress].Bytes == 0 {
		t.Fatal("no bytes counted")
	}
}

// The names are the metric labels.
func TestFamilyDirectionNames(t *testing.T) {
	if FamilyIPv4.String() != "ipv4" || FamilyIPv6.String() != "ipv6" || NumFamilies.String() != "unknown" {
		t.Error("family names")
	}
	if DirEgress.String() != "egress" || DirIngress.String() != "ingress" || DirHairpin.String() != "hairpin" || NumDirections.String() != "unknown" {
		t.Error("direction names")
	}
}
