package conntrack

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

func benchTuple(i int) Tuple {
	return Tuple{
		Src: packet.IP4FromUint32(0x0ac70000 | uint32(i>>16)), Dst: ipExt,
		SrcPort: uint16(i), DstPort: 80, Proto: packet.ProtoUDP, Zone: 16,
	}
}

// BenchmarkConntrackLookup measures a Lookup hit among 10k established
// UDP connections, alternating directions.
func BenchmarkConntrackLookup(b *testing.B) { benchLookup[Tuple](b) }

// BenchmarkConntrackLookup6 is BenchmarkConntrackLookup on IPv6.
func BenchmarkConntrackLookup6(b *testing.B) { benchLookup[Tuple6](b) }

func benchLookup[T tupleKey](b *testing.B) {
	const n = 10000
	ct := newTab[T](b, Config{Capacity: 2 * n})
	m := &Meta{Len: 64}
	keys := make([]T, 2*n)
	for i := 0; i < n; i++ {
		mt, err := ct.Commit(fam[T](benchTuple(i)), m, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		keys[2*i], keys[2*i+1] = mt.Orig, mt.Reply
	}
	// Visit in a scrambled order so that the index is probed at random.
	for i := range keys {
		j := (i * 7919) % len(keys)
		keys[i], keys[j] = keys[j], keys[i]
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	// The clock advances 300 ns a packet (3.3 Mpps), so every hit moves its
	// connection to the tail of its expiry list, as at line rate.
	for i := 0; i < b.N; i++ {
		if _, ok := ct.Lookup(keys[i%len(keys)], m, int64(i)*300); !ok {
			b.Fatal("miss")
		}
	}
	cpu.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pps")
}

// BenchmarkConntrackCommit measures Lookup miss + Commit of a new UDP
// connection, with Expire keeping the table from filling.
func BenchmarkConntrackCommit(b *testing.B) { benchCommit[Tuple](b) }

// BenchmarkConntrackCommit6 is BenchmarkConntrackCommit on IPv6.
func BenchmarkConntrackCommit6(b *testing.B) { benchCommit[Tuple6](b) }

func benchCommit[T tupleKey](b *testing.B) {
	const n = 1 << 16
	ct := newTab[T](b, Config{Capacity: n})
	m := &Meta{Len: 64}
	keys := make([]T, n)
	for i := range keys {
		keys[i] = fam[T](benchTuple(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		k := keys[i%n]
		if i%n == 0 && i > 0 {
			b.StopTimer()
			cpu.pause()
			for _, k := range keys {
				if mt, ok := ct.Lookup(k, m, 0); ok {
					ct.Delete(mt.Handle)
				}
			}
			cpu.resume()
			b.StartTimer()
		}
		if _, ok := ct.Lookup(k, m, 0); ok {
			b.Fatal("hit")
		}
		if _, err := ct.Commit(k, m, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkConntrackMemory fills a 1M-connection table the way the
// pipeline does, one flow as two connections (the DNAT zone's, untranslated,
// and the SNAT zone's, to an SNAT address and port), and reports the
// resident memory it takes per connection and per flow. The slab and index
// live outside the Go heap (hugemem.go), so this reads the process's RSS,
// which counts every page the table touched, huge or not.
func BenchmarkConntrackMemory(b *testing.B) { benchMemory[Tuple](b) }

// BenchmarkConntrackMemory6 is BenchmarkConntrackMemory on IPv6 (NAT66 in
// the SNAT zone).
func BenchmarkConntrackMemory6(b *testing.B) { benchMemory[Tuple6](b) }

func benchMemory[T tupleKey](b *testing.B) {
	const n = 1 << 20
	var perConn float64
	// Earlier iterations' tables stay alive until the end: their cleanup
	// (munmap) during a later iteration would make its RSS delta shrink.
	var keep []*table[T]
	defer func() { runtime.KeepAlive(keep) }()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		before := rssBytes(b)
		ct := newTab[T](b, Config{Capacity: n})
		m := &Meta{Len: 64}
		for j := 0; j < n/2; j++ {
			k := benchTuple(j)
			k.Zone = 6
			if _, err := ct.Commit(fam[T](k), m, 0, nil); err != nil {
				b.Fatal(err)
			}
			k.Zone = 16
			if _, err := ct.Commit(fam[T](k), m, 0, chooser[T](snatPort(j))); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		after := rssBytes(b)
		if ct.Len() != n {
			b.Fatal(ct.Len())
		}
		perConn = float64(after-before) / n
		keep = append(keep, ct)
	}
	b.ReportMetric(perConn, "B/conn")
	b.ReportMetric(2*perConn, "B/flow")
}

// snatPort translates flow i's source to ipSNAT and a port of its own.
type snatPort int

func (p snatPort) ChooseReply(orig Tuple, _ Taken) (Tuple, bool) {
	r := orig.Reverse()
	r.Dst, r.DstPort = packet.IP4FromUint32(ipSNAT.Uint32()+uint32(p>>16)), uint16(p)
	return r, true
}

// rssBytes is the process's resident set size.
func rssBytes(tb testing.TB) int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Fatal(err)
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(raw), &size, &rss); err != nil {
		tb.Fatal(err)
	}
	return rss * int64(os.Getpagesize())
}
