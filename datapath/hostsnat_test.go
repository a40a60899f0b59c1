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

// hostIP is examples/host-snat.yaml's router external port address,
// which its snat rule translates to (shared with the host).
var hostIP = net.IP{172, 31, 5, 230}

// toHost is a frame from the external next hop to the host-shared
// address.
func toHost(t *testing.T, x seedtest.L4) []byte {
	return seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, hostIP, x)
}

// TestHostSNATReplies: SNAT to the router's own external address (the
// ovn-kubernetes shape). Egress leaves with that address and a port from
// the host-shared range; the answers (UDP, TCP, echo) come back to the
// VM, where before they were passed to a kernel that never got them
// (pass-after-redirect). A packet to the address in the range that no
// connection owns is counted as no-connection-host-address. Offload
// planning succeeds for such a flow.
func TestHostSNATReplies(t *testing.T) {
	h := newHarness(t, seedtest.Example("host-snat.yaml"), conntrack.Config{})
	sink := &recordSink{}
	h.pl.sink = sink
	var p packet.Parsed

	for _, tc := range []struct {
		name    string
		out, in seedtest.L4
	}{
		{"udp", seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53}, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53}},
		{"tcp", seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 40000, DPort: 80, SYN: true, Seq: 1}, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 80, SYN: true, ACK: true, Seq: 9, AckNum: 2}},
		{"icmp", seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 7}, seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 0}},
	} {
		out := h.run(flow.Underlay, seedtest.Egress(t, tc.out))
		wantTX(t, out, flow.External)
		if p.Decode(out.Frame()) != packet.OK || p.Src != packet.IP4(hostIP) {
			t.Fatalf("%s: egress source %v, want the router's address %v", tc.name, p.Src, hostIP)
		}
		if p.SrcPort < 61000 {
			t.Fatalf("%s: SNAT port/id %d outside the host-shared range 61000-65535", tc.name, p.SrcPort)
		}
		in := tc.in
		in.DPort, in.ICMPID = p.SrcPort, p.SrcPort
		back := h.run(flow.External, toHost(t, in))
		wantTX(t, back, flow.Underlay)
		var ip packet.Parsed
		if ip.Decode(back.Frame()[58:]) != packet.OK || ip.Dst != packet.IP4(seedtest.VM) {
			t.Fatalf("%s: answer delivered to %v, want the VM", tc.name, ip.Dst)
		}
	}

	// Offload planning succeeds; the reverse key is the host's address.
	if len(sink.got) == 0 {
		t.Fatal("no offload candidate")
	}
	fwd, rev, err := h.pl.PlanFlow(sink.got[0])
	if err != nil {
		t.Fatalf("planning a flow SNATed to the host's address: %v", err)
	}
	if fwd.NATSrc != packet.IP4(hostIP) || rev.Key.Dst != packet.IP4(hostIP) || rev.OutPort != flow.Underlay {
		t.Fatalf("fwd %+v rev %+v", fwd, rev)
	}

	// In the range, no connection: a counted drop of its own.
	before := h.pl.Stats().Drops[DropNoConnHost]
	wantDrop(t, h.run(flow.External, toHost(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 1234, DPort: 61001, SYN: true})), DropNoConnHost)
	wantDrop(t, h.run(flow.External, toHost(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1234, DPort: 65535})), DropNoConnHost)
	if got := h.pl.Stats().Drops[DropNoConnHost] - before; got != 2 {
		t.Fatalf("no-connection-host-address moved by %d, want 2", got)
	}
	if DropNoConnHost.String() != "no-connection-host-address" {
		t.Fatalf("drop name %q", DropNoConnHost)
	}
}

// TestHostAddrWithoutSNATPasses: the router's external address when no
// rule translates to it stays the kernel's, as before.
func TestHostAddrWithoutSNATPasses(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	r := h.run(flow.External, toHost(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 1234, DPort: 22, SYN: true}))
	if r.Verdict != VerdictPass {
		t.Fatalf("verdict %v (%v), want pass", r.Verdict, r.Reason)
	}
}
