package engine

import "testing"

// A process pinned to one CPU starts with GOMAXPROCS 1: Run must give the
// locked worker threads a P each and the rest of xgw one more.
func TestProcsFor(t *testing.T) {
	for _, c := range []struct{ workers, procs, want int }{
		{1, 1, 2}, {2, 1, 3}, {2, 2, 3}, {1, 2, 0}, {2, 8, 0},
	} {
		if got := procsFor(c.workers, c.procs); got != c.want {
			t.Errorf("procsFor(%d workers, GOMAXPROCS %d) = %d, want %d", c.workers, c.procs, got, c.want)
		}
	}
}
