package bpf

import (
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// manyFlows installs n flows (both directions of n/2 connections) that
// differ in their ports, so that the walk spans several batches and the
// map's buckets.
func manyFlows(t testing.TB, e *fpEnv, n int) map[flow.Key]flow.Action {
	fwd, rev := e.p.establish(seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1234, DPort: 53}),
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 1234})
	as := make([]flow.Action, 0, n)
	want := make(map[flow.Key]flow.Action, n)
	for i := range n / 2 {
		f, r := fwd, rev
		f.Key.SrcPort = uint16(1000 + i)
		r.Key.DstPort = uint16(1000 + i)
		as = append(as, f, r)
		want[f.Key], want[r.Key] = f, r
	}
	if got, err := e.fp.InstallBatch(as); err != nil || got != len(as) {
		t.Fatalf("install %d flows: %d, %v", len(as), got, err)
	}
	return want
}

// TestFlowsWalkBatches: the batched walk (walkFlows) over several batches
// returns every entry exactly once, each equal to its single lookup, stops
// when asked, and the entry-by-entry fallback sees the same set.
func TestFlowsWalkBatches(t *testing.T) {
	e := newFP(t, true)
	n := 5*flowBatch + 17
	want := manyFlows(t, e, n)
	seen := make(map[flow.Key]int, len(want))
	for f, err := range e.fp.Flows() {
		if err != nil {
			t.Fatal(err)
		}
		seen[f.Action.Key]++
		one, err := e.fp.Lookup(f.Action.Key)
		if err != nil {
			t.Fatalf("walked %+v, which Lookup does not find: %v", f.Action.Key, err)
		}
		if f.Action.Key != one.Action.Key || f.Action.NATSrcPort != one.Action.NATSrcPort ||
			f.Action.EthDst != one.Action.EthDst || f.Packets != one.Packets {
			t.Fatalf("walk gives %+v, lookup %+v", f, one)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("walk saw %d distinct flows, want %d", len(seen), len(want))
	}
	for k, c := range seen {
		if _, ok := want[k]; !ok || c != 1 {
			t.Fatalf("flow %+v seen %d times (installed: %v)", k, c, ok)
		}
	}

	stopped := 0
	for range e.fp.Flows() {
		stopped++
		if stopped == flowBatch+3 {
			break
		}
	}
	if stopped != flowBatch+3 {
		t.Fatalf("walk ended after %d entries", stopped)
	}

	slow := 0
	err := e.fp.iterateFlows(ktimeOffset(), func(f Flow, _ error) bool {
		if _, ok := want[f.Action.Key]; !ok {
			t.Fatalf("fallback walk saw %+v", f.Action.Key)
		}
		slow++
		return true
	})
	if err != nil || slow != len(want) {
		t.Fatalf("fallback walk: %d entries, %v; want %d", slow, err, len(want))
	}
}

// BenchmarkFlowsWalk prices one walk of 10,000 entries (5,000 offloaded
// connections), what the offload manager does every second on the
// gateway's CPU: "batch" is walkFlows, "one-by-one" the entry-by-entry
// walk it replaced (next-key and lookup syscalls, two clock reads per
// entry).
//
//	sudo go test -run - -bench FlowsWalk ./bpf
func BenchmarkFlowsWalk(b *testing.B) {
	e := newFP(b, true)
	const n = 10000
	manyFlows(b, e, n)
	count := func(f Flow, _ error) bool { return true }
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			if err := e.fp.walkFlows(count); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
	})
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			var k gwFpKey
			var v gwFpAction
			it := e.fp.flows.Iterate()
			for it.Next(&k, &v) {
				_ = decodeFlow(&k, &v)
			}
			if err := it.Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
	})
}
