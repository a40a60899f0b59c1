package datapath

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// ethDst is the destination MAC of a transmitted frame.
func ethDst(p Packet) []byte { return p.Buf[p.Off : p.Off+6] }

// TestRouteChangeOnReload swaps in a topology whose default route has a
// new next hop, as a reload does: a new connection goes to the new next
// hop, and a connection established before keeps forwarding.
func TestRouteChangeOnReload(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	old := seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 6001, DPort: 53})
	out := h.run(flow.Underlay, old)
	wantTX(t, out, flow.External)
	if !bytes.Equal(ethDst(out), seedtest.MACNextHop) {
		t.Fatalf("before the reload: eth dst %x, want the next hop's %x", ethDst(out), []byte(seedtest.MACNextHop))
	}
	wantTX(t, h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 6001})), flow.Underlay)

	raw, err := os.ReadFile(seedtest.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	const from, to = "nexthop: 172.31.5.1", "nexthop: 172.31.5.2"
	if !strings.Contains(string(raw), from) {
		t.Fatalf("%s has no %q", seedtest.ConfigPath(), from)
	}
	path := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(raw), from, to, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	topo := seedtest.Topology(t, path)
	newHop := packet.MAC{0x02, 0, 0, 0, 0x05, 0x02}
	h.pl.neigh.(route.StaticNeighbors)[packet.MustIP4("172.31.5.2")] = newHop
	if err := h.pl.SetTopology(topo); err != nil {
		t.Fatal(err)
	}

	out = h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 6002, DPort: 53}))
	wantTX(t, out, flow.External)
	if !bytes.Equal(ethDst(out), newHop[:]) {
		t.Fatalf("new connection after the reload: eth dst %x, want the new next hop's %x", ethDst(out), newHop)
	}
	// The old connection keeps its translation and keeps forwarding, both ways.
	out = h.run(flow.Underlay, old)
	wantTX(t, out, flow.External)
	if src := packet.IPv4(out.Buf[out.Off+14 : out.Off+out.Len]).Src(); src != packet.IP4(seedtest.SNAT.To4()) {
		t.Fatalf("old connection's source after the reload: %v, want the SNAT address %v", src, seedtest.SNAT)
	}
	wantTX(t, h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 6001})), flow.Underlay)
}

// TestNeighborMissDropped: with holding disabled and the next hop's MAC
// unknown the packet is dropped and counted as neighbor-miss, nothing is
// sent, and once the neighbour is known the same connection forwards.
// (hold_test.go covers the default, holding.)
func TestNeighborMissDropped(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	h.w.hold = nil
	neigh := h.pl.neigh.(route.StaticNeighbors)
	mac := neigh[seedtest.NextHop]
	delete(neigh, seedtest.NextHop)
	eg := seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 6003, DPort: 53})
	wantDrop(t, h.run(flow.Underlay, eg), DropNeighMiss)
	if n := h.pl.Stats().Drops[DropNeighMiss]; n != 1 {
		t.Fatalf("neighbor-miss drops %d, want 1", n)
	}
	neigh[seedtest.NextHop] = mac
	out := h.run(flow.Underlay, eg)
	wantTX(t, out, flow.External)
	if !bytes.Equal(ethDst(out), seedtest.MACNextHop) {
		t.Fatalf("eth dst %x, want %x", ethDst(out), []byte(seedtest.MACNextHop))
	}
}
