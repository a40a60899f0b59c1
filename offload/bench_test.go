package offload

import (
	"testing"

	"github.com/xgw-dev/xgw/flow"
)

// BenchmarkPromote measures promotion throughput with the fake fast path:
// drain, mark, policy, plan and batched install of answered UDP flows.
// Each op is one flow; Reset between rounds is not timed.
func BenchmarkPromote(b *testing.B) {
	const n = 1024
	h := newHarness(b, defaultCfg())
	cands := make([]flow.Candidate, 0, n)
	for i := range n {
		cands = append(cands, h.answeredUDP(uint16(10000+i)).cand)
	}
	b.ReportAllocs()
	b.ResetTimer()
	done := 0
	for done < b.N {
		k := min(n, b.N-done)
		for i := 0; i < k; i += DefaultQueueSize {
			h.m.Candidates(cands[i:min(k, i+DefaultQueueSize)])
		}
		h.step()
		b.StopTimer()
		if got := h.m.Stats().Offloaded; got != k {
			b.Fatalf("%d offloaded, want %d", got, k)
		}
		h.m.Reset()
		b.StartTimer()
		done += k
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}

// BenchmarkCandidates measures what the pipeline pays per batch to report
// its candidates (64, a full batch): one lock and a copy.
func BenchmarkCandidates(b *testing.B) {
	h := newHarness(b, defaultCfg())
	cands := make([]flow.Candidate, 64)
	for i := range cands {
		cands[i].Key.SrcPort = uint16(i)
	}
	spare := make([]flow.Candidate, 0, DefaultQueueSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.m.Candidates(cands)
		if (i+1)%(DefaultQueueSize/64) == 0 {
			spare = h.m.cands.swap(spare)[:0] // what a drain does
		}
	}
}

func TestCandidatesDoesNotAllocate(t *testing.T) {
	h := newHarness(t, defaultCfg())
	cands := make([]flow.Candidate, 64)
	spare := make([]flow.Candidate, 0, DefaultQueueSize)
	allocs := testing.AllocsPerRun(1000, func() {
		h.m.Candidates(cands)
		spare = h.m.cands.swap(spare)[:0]
	})
	if allocs != 0 {
		t.Fatalf("Candidates allocates %.1f times per call", allocs)
	}
}
