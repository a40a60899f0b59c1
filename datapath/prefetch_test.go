package datapath

import (
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// keyHashOf is the hash fast() probes the cache with, by the full parse.
func keyHashOf(t *testing.T, pkt *Packet) uint64 {
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
	k := flow.KeyOf(pkt.InPort, vni, innerDst, &p)
	return k.Hash()
}

// TestPeekHash: for ordinary Geneve and external UDP, the prefetch's
// shortcut computes the very hash the flow cache probes with, so that it
// touches the lines fast() then reads.
func TestPeekHash(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	fs := establishedFlows(t, h, 8)
	fs.fill(0)
	for i := range fs.batch {
		pkt := &fs.batch[i]
		got, ok := peekHash(pkt)
		if !ok {
			t.Fatalf("slot %d (port %v): not peeked", i, pkt.InPort)
		}
		if want := keyHashOf(t, pkt); got != want {
			t.Fatalf("slot %d (port %v): peeked hash %#x, the cache's %#x", i, pkt.InPort, got, want)
		}
	}
	// Not IPv4 UDP/TCP: skipped, not guessed.
	arp := &Packet{Buf: make([]byte, 64), Len: 64, InPort: flow.External}
	if _, ok := peekHash(arp); ok {
		t.Fatal("a zero frame was peeked")
	}
	// Truncations of real frames at every length: never out of bounds.
	for _, src := range [][]byte{fs.egress[0], fs.reply[0]} {
		for n := 0; n <= len(src); n++ {
			for _, in := range []flow.Port{flow.Underlay, flow.External} {
				peekHash(&Packet{Buf: src[:n], Len: n, InPort: in})
			}
		}
	}
}
