package neigh

import (
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

// BenchmarkLookupHit measures an IPv4 hit on a published snapshot of 64
// entries: one atomic load and one map read, the per-packet cost.
func BenchmarkLookupHit(b *testing.B) {
	tb := benchTable()
	ip := packet.IP4{192, 0, 2, 7}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tb.Lookup(ip); !ok {
			b.Fatal("miss")
		}
	}
}
