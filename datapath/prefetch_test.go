package datapath

import (
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// keyOf is the key fast() probes the cache with, by the full parse.
func keyOf(t *testing.T, pkt *Packet) flow.Key {
	t.Helper()
	frame := pkt.Frame()
	var p packet.Parsed
	var vni uint32
	var innerDst packet.MAC
	l3 := frame
	if pkt.InPort == flow.Underlay {
		var d geneve.Decapped
		if geneve.Decap(frame, &d) != geneve.OK {
			t.Fatal("decap")
		}
		l3 = frame[d.InnerOff:d.End]
		vni, innerDst = d.VNI, packet.Ethernet(l3).Dst()
	}
	if p.Decode(l3) != packet.OK {
		t.Fatal("decode")
	}
	return flow.KeyOf(pkt.InPort, vni, innerDst, &p)
}

// TestPeekKey: for ordinary Geneve and external UDP, the prefetch's
// shortcut reads the very key the flow cache probes with, so that it
// touches the lines fast() then reads, and fast() can reuse its hash.
func TestPeekKey(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	fs := establishedFlows(t, h, 8)
	fs.fill(0)
	for i := range fs.batch {
		pkt := &fs.batch[i]
		var got flow.Key
		if !peekKey(pkt, &got) {
			t.Fatalf("slot %d (port %v): not peeked", i, pkt.InPort)
		}
		if want := keyOf(t, pkt); got != want {
			t.Fatalf("slot %d (port %v): peeked key %+v, the cache's %+v", i, pkt.InPort, got, want)
		}
	}
	// Not IPv4 UDP/TCP: skipped, not guessed.
	arp := &Packet{Buf: make([]byte, 64), Len: 64, InPort: flow.External}
	var k flow.Key
	if peekKey(arp, &k) {
		t.Fatal("a zero frame was peeked")
	}
	// Truncations of real frames at every length: never out of bounds.
	for _, src := range [][]byte{fs.egress[0], fs.reply[0]} {
		for n := 0; n <= len(src); n++ {
			for _, in := range []flow.Port{flow.Underlay, flow.External} {
				peekKey(&Packet{Buf: src[:n], Len: n, InPort: in}, &k)
			}
		}
	}
}
