package conntrack

import (
	"testing"
	"time"
)

// Expire sweeps the shards in rounds of at most expireChunk removals per
// hold of a shard's lock, so that a worker needing a shard never waits for
// a whole sweep of it (with two workers, that wait was 88 % of their mutex
// delay in BenchmarkPipelineParallel/new). The hook sees every chunk: none
// larger than expireChunk, the lock free between two, and a shard's next
// chunk only after every other shard with work left had one. Before the
// change, a shard's sweep was one hold: one "chunk" per shard, thousands
// of connections long.
func TestExpireSweepsShardsInChunks(t *testing.T) {
	bothFamilies(t, testExpireSweepsShardsInChunks[Tuple], testExpireSweepsShardsInChunks[Tuple6])
}

func testExpireSweepsShardsInChunks[T tupleKey](t *testing.T) {
	const n = 4000
	ct := newTab[T](t, Config{Capacity: 2 * n, shards: 4, Timeouts: Timeouts{UDPFirst: time.Second}})
	for i := 0; i < n; i++ {
		if _, err := ct.Commit(udpTupleOf[T](uint16(i>>12), uint16(i)), &Meta{Len: 60}, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(ct.shards) != 4 {
		t.Fatalf("%d shards, want 4", len(ct.shards))
	}
	type chunk struct{ shard, removed int }
	var chunks []chunk
	testHookExpireChunk = func(s, m int) {
		if !ct.shards[s].mu.TryLock() {
			t.Errorf("shard %d still locked after its chunk", s)
		} else {
			ct.shards[s].mu.Unlock()
		}
		chunks = append(chunks, chunk{s, m})
	}
	defer func() { testHookExpireChunk = nil }()

	if got := ct.Expire(2 * sec); got != n {
		t.Fatalf("Expire removed %d of %d", got, n)
	}
	if ct.Len() != 0 {
		t.Fatalf("%d connections left", ct.Len())
	}
	if len(chunks) < n/expireChunk {
		t.Fatalf("%d chunks for %d connections: want at least %d of at most %d", len(chunks), n, n/expireChunk, expireChunk)
	}
	// Round robin: between two chunks of one shard, a chunk of every
	// shard that still had connections to remove.
	last := make(map[int]int) // shard -> index of its last chunk
	for i, c := range chunks {
		if c.removed > expireChunk {
			t.Fatalf("chunk %d removed %d in one hold, want at most %d", i, c.removed, expireChunk)
		}
		if j, ok := last[c.shard]; ok {
			for s, k := range last {
				if s != c.shard && k < j && chunks[k].removed == expireChunk {
					t.Fatalf("shard %d had chunks %d and %d with none of shard %d (still busy) between", c.shard, j, i, s)
				}
			}
		}
		last[c.shard] = i
	}
}
