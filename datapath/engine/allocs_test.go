package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/datapath/afxdp"
)

// TestWorkerZeroAllocs drives the worker's batch loop (receive, header
// touch, process, TX in place and by copy to the other interface, the
// coalesced kicks, release) over live AF_XDP rings under traffic, and
// requires zero allocations per round. The copy to the other interface
// used to allocate once per frame (the destination frame escaped through
// the Port interface's Buf).
func TestWorkerZeroAllocs(t *testing.T) {
	refl := &reflector{}
	l := newEngLab(t, refl, afxdp.Config{})
	refl.underlayPeer = l.ubMAC
	conns := append(l.dial(t, "192.0.2.1:6081", 4), l.dial(t, "198.51.100.1:7", 4)...)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		msg := make([]byte, 64)
		for i := 0; !stop.Load(); i++ {
			conns[i%len(conns)].Write(msg)
			if i%32 == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()

	w := l.eng.workers[0]
	round := func() {
		for _, xp := range w.rx {
			w.serve(xp)
		}
		w.drainExtra()
		w.flush(kickAt)
		if w.nb >= statsEvery {
			w.publish()
		}
		// AllocsPerRun runs with GOMAXPROCS 1: let the sender in.
		runtime.Gosched()
	}
	// Until both paths carried traffic (ARP first), bounded.
	deadline := time.Now().Add(10 * time.Second)
	for w.l.txInPlace == 0 || w.l.txCopied == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no traffic on both paths in 10s: %+v, ports %+v", w.l, l.eng.Ports())
		}
		round()
		w.flush(1)
		time.Sleep(100 * time.Microsecond)
	}
	before := w.l
	if a := testing.AllocsPerRun(5000, round); a != 0 {
		t.Errorf("worker loop allocates %.2f per round, want 0", a)
	}
	w.flush(1)
	w.publish()
	got := w.l
	if got.txInPlace == before.txInPlace || got.txCopied == before.txCopied {
		t.Fatalf("the measurement moved nothing on one path: before %+v after %+v", before, got)
	}
	t.Logf("measured over %d frames in place, %d copied, %d batches",
		got.txInPlace-before.txInPlace, got.txCopied-before.txCopied, got.batches-before.batches)
	var kicks, tx uint64
	for _, p := range l.eng.Ports() {
		kicks += p.Stats.TxKicks
		tx += p.Stats.TxPackets
	}
	t.Logf("TX: %d frames, %d sendto kicks (%.2f frames per kick)", tx, kicks, float64(tx)/float64(max(kicks, 1)))
	s := l.eng.Stats()
	if s.TxCopied != got.txCopied || s.Frames != got.frames {
		t.Fatalf("published stats %+v differ from the worker's %+v", s, got)
	}
}
