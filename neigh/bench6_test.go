package neigh

import (
	"net/netip"
	"testing"

	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// benchTable is a Table without netlink whose snapshot holds 64 IPv4 and
// 64 IPv6 entries, for the lookup benchmarks.
func benchTable() *Table {
	t := &Table{misses: make(chan route.IP6, 1)}
	s := snapshot{v4: map[packet.IP4]packet.MAC{}, v6: map[route.IP6]packet.MAC{}}
	for i := range 64 {
		s.v4[packet.IP4{192, 0, 2, byte(i)}] = packet.MAC{2, 0, 0, 0, 0, byte(i)}
		s.v6[netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}).As16()] = packet.MAC{2, 0, 0, 0, 0, byte(i)}
	}
	t.snap.Store(&s)
	return t
}

// BenchmarkLookup6Hit is BenchmarkLookupHit for IPv6.
func BenchmarkLookup6Hit(b *testing.B) {
	tb := benchTable()
	ip := route.IP6{0x20, 0x01, 0x0d, 0xb8, 15: 7}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tb.Lookup6(ip); !ok {
			b.Fatal("miss")
		}
	}
}
