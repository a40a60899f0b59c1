package conntrack

import (
	"testing"
	"unsafe"
)

// Shards are whole cache lines, so that two never share one.
func TestShardIsWholeCacheLines(t *testing.T) {
	for _, n := range []uintptr{unsafe.Sizeof(shard[Tuple]{}), unsafe.Sizeof(shard[Tuple6]{})} {
		if n%64 != 0 {
			t.Fatalf("shard is %d bytes, not a multiple of 64: adjust shardPad", n)
		}
	}
	if off := unsafe.Offsetof(shard[Tuple]{}.full); off >= 64 {
		t.Fatalf("the hot fields end at %d, past the first cache line", off)
	}
}

// Shards get segments of (nearly) one size, none empty, adding up to
// exactly the capacity; owner agrees with the segments for every entry;
// and the table takes exactly Capacity connections, no more.
func TestShardsEvenAndCapacityExact(t *testing.T) {
	for _, c := range []struct{ n, shards int }{
		{5000, 4}, {3000, 0}, {2049, 2}, {1 << 16, 0}, {100003, 0}, {10, 4}, {5, 4}, {3, 8}, {1, 1}, {64, 64},
	} {
		tab := newTable(t, Config{Capacity: c.n, shards: c.shards})
		ns := len(tab.shards)
		total := 0
		lo, hi := uint32(1<<31), uint32(0)
		for i := range tab.shards {
			sh := &tab.shards[i]
			if sh.size == 0 {
				t.Errorf("capacity %d, %d shards: shard %d is empty", c.n, ns, i)
			}
			lo, hi = min(lo, sh.size), max(hi, sh.size)
			if int(sh.base) != total {
				t.Errorf("capacity %d: shard %d starts at %d, want %d", c.n, i, sh.base, total)
			}
			for idx := sh.base; idx < sh.base+sh.size; idx++ {
				if o := tab.owner(idx); o != uint32(i) {
					t.Fatalf("capacity %d: owner(%d) = %d, want %d", c.n, idx, o, i)
				}
			}
			total += int(sh.size)
		}
		if total != c.n || tab.Stats().Capacity != c.n {
			t.Errorf("capacity %d: shards hold %d (stats %d)", c.n, total, tab.Stats().Capacity)
		}
		if int(hi-lo) >= max(ns, 2) {
			t.Errorf("capacity %d, %d shards: sizes from %d to %d", c.n, ns, lo, hi)
		}
		// Fill only tables whose regions are big enough for the 7/8
		// region limit (roomFor) never to bite: hash skew across tiny
		// forced regions can refuse a key before the slab is full.
		if c.n > 5000 || c.n/ns < minShardSize && ns > 1 {
			continue
		}
		for i := 0; i < c.n; i++ {
			if _, err := tab.Commit(benchTuple(i), nil, 0, nil); err != nil {
				t.Fatalf("capacity %d, %d shards: connection %d: %v", c.n, ns, i, err)
			}
		}
		if _, err := tab.Commit(benchTuple(c.n), nil, 0, nil); err != ErrFull {
			t.Errorf("capacity %d: connection %d: %v, want ErrFull", c.n, c.n, err)
		}
		checkInvariants(t, tab)
	}
}
