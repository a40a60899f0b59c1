package datapath

import (
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// headroom is the room the harness leaves before each frame.
const headroom = 256

// harness is a pipeline over a topology loaded from an example config.
type harness struct {
	t    testing.TB
	topo *route.Topology
	ct   *conntrack.Table
	pl   *Pipeline
	w    *Worker
	now  int64
}

func newHarness(t testing.TB, configPath string, ctCfg conntrack.Config) *harness {
	t.Helper()
	topo := seedtest.Topology(t, configPath)
	ct, err := conntrack.NewTable(ctCfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, topo: topo, ct: ct, now: 1_000_000_000}
	h.pl, err = New(Config{Topology: topo, Conntrack: ct, Neighbors: harnessNeighbors(),
		UnderlayMAC: packet.MAC(seedtest.MACGWUnder), Clock: func() int64 { return h.now }})
	if err != nil {
		t.Fatal(err)
	}
	h.w = h.pl.NewWorker()
	return h
}

// harnessNeighbors are the seed's neighbors and two-tenants.yaml's.
func harnessNeighbors() route.StaticNeighbors {
	neigh := seedtest.Neighbors()
	neigh[packet.MustIP4("172.31.1.22")] = packet.MAC(seedtest.MACHV)
	neigh[packet.MustIP4("198.51.100.2")] = packet.MAC(seedtest.MACNextHop)
	neigh[packet.MustIP4("192.0.2.2")] = packet.MAC(seedtest.MACHV)
	return neigh
}

// run processes one frame arriving on port and returns the slot.
func (h *harness) run(port flow.Port, frame []byte) Packet {
	buf := make([]byte, headroom+len(frame)+64)
	copy(buf[headroom:], frame)
	b := []Packet{{Buf: buf, Off: headroom, Len: len(frame), InPort: port}}
	h.w.Process(b)
	return b[0]
}
