package datapath

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

const batchSize = 64

// flowSet holds template frames of n established UDP flows, egress and
// reply, and buffers to run them from.
type flowSet struct {
	egress, reply [][]byte
	bufs          [][]byte
	batch         []Packet
}

func establishedFlows(tb testing.TB, h *harness, n int) *flowSet {
	fs := &flowSet{}
	for i := 0; i < n; i++ {
		sport := uint16(10000 + i%50000)
		dst := net.IP{172, 31, 6, byte(24 + i/50000)}
		eg := seedtest.Geneve(tb, seedtest.Chassis, seedtest.VTEP, 1, 1, 2,
			seedtest.InnerIPv4(tb, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, dst, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: sport, DPort: 9000, Payload: make([]byte, 18)}))
		rp := seedtest.InnerIPv4(tb, seedtest.MACNextHop, seedtest.MACGRExt, dst, seedtest.SNAT, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 9000, DPort: sport, Payload: make([]byte, 18)})
		if p := h.run(flow.Underlay, eg); p.Verdict != VerdictTX {
			tb.Fatalf("flow %d egress: %v %v", i, p.Verdict, p.Reason)
		}
		if p := h.run(flow.External, rp); p.Verdict != VerdictTX {
			tb.Fatalf("flow %d reply: %v %v", i, p.Verdict, p.Reason)
		}
		fs.egress = append(fs.egress, eg)
		fs.reply = append(fs.reply, rp)
	}
	fs.bufs = make([][]byte, batchSize)
	for i := range fs.bufs {
		fs.bufs[i] = make([]byte, 2048)
	}
	fs.batch = make([]Packet, batchSize)
	return fs
}

// fill loads batch slot i with flow f, egress for even i, reply for odd:
// the frames are rewritten in place, so each run starts from the template.
func (fs *flowSet) fill(start int) {
	n := len(fs.egress)
	for i := range fs.batch {
		f := (start + i/2) % n
		src := fs.egress[f]
		port := flow.Underlay
		if i%2 == 1 {
			src, port = fs.reply[f], flow.External
		}
		copy(fs.bufs[i][headroom:], src)
		fs.batch[i] = Packet{Buf: fs.bufs[i], Off: headroom, Len: len(src), InPort: port}
	}
}

func TestEstablishedZeroAllocs(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	fs := establishedFlows(t, h, 64)
	start := 0
	allocs := testing.AllocsPerRun(200, func() {
		fs.fill(start)
		start += batchSize / 2
		h.w.Process(fs.batch)
	})
	for i, p := range fs.batch {
		if p.Verdict != VerdictTX {
			t.Fatalf("slot %d: %v %v", i, p.Verdict, p.Reason)
		}
	}
	if allocs != 0 {
		t.Fatalf("established pipeline allocates %v per batch", allocs)
	}
}

// BenchmarkPipelineEstablished runs egress and reply packets of
// established connections (half each), restoring each frame from its
// template before the batch (a ~100-byte copy, included in the figure).
// Variants: 1k, 10k and 100k flows (more than the flow cache holds), the
// conntrack table sized to the load or at the 1M default, and the
// workers' flow cache off.
func BenchmarkPipelineEstablished(b *testing.B) {
	for _, c := range []struct {
		name     string
		flows    int
		capacity int
		noCache  bool
	}{
		{"flows=1k/table=64k", 1000, 1 << 16, false},
		{"flows=1k/table=64k/cache=off", 1000, 1 << 16, true},
		{"flows=10k/table=64k", 10000, 1 << 16, false},
		{"flows=10k/table=1M", 10000, conntrack.DefaultCapacity, false},
		{"flows=10k/table=64k/cache=off", 10000, 1 << 16, true},
		// More flows than cache entries: the cache must step aside.
		{"flows=100k/table=1M", 100000, conntrack.DefaultCapacity, false},
		{"flows=100k/table=1M/cache=off", 100000, conntrack.DefaultCapacity, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := newHarness(b, seedtest.ConfigPath(), conntrack.Config{Capacity: c.capacity})
			if c.noCache {
				h.w.cache = nil
			}
			fs := establishedFlows(b, h, c.flows)
			b.ReportAllocs()
			b.ResetTimer()
			start := 0
			for i := 0; i < b.N; i += batchSize {
				fs.fill(start)
				start += batchSize / 2
				h.w.Process(fs.batch)
			}
			b.StopTimer()
			if fs.batch[0].Verdict != VerdictTX || fs.batch[1].Verdict != VerdictTX {
				b.Fatalf("not forwarded: %v %v", fs.batch[0].Reason, fs.batch[1].Reason)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pps")
			b.ReportMetric(float64(h.pl.Stats().CacheHits)/float64(b.N), "cache-hits/pkt")
		})
	}
}

// BenchmarkPipelineNewConn opens a new connection per packet, in batches
// of 64: decap, a miss and a commit in both zones, and an SNAT port
// allocation. The table is prefaulted, as xgw run does, and kept at a
// steady population: the older half of the connections is expired outside
// the timer whenever the table is 3/4 full.
func BenchmarkPipelineNewConn(b *testing.B) {
	const capacity = 1 << 20 // entries: two per flow
	h := newHarness(b, seedtest.ConfigPath(), conntrack.Config{Capacity: capacity, Prefault: true})
	tmpl := seedtest.Egress(b, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1, DPort: 9000, Payload: make([]byte, 18)})
	binary.BigEndian.PutUint16(tmpl[40:], 0) // no outer checksum: the varied inner bytes would break it
	inner := len(tmpl) - (14 + 20 + 8 + 18)
	bufs := make([][]byte, batchSize)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	batch := make([]Packet, batchSize)
	oldest := h.now
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batchSize {
		for j := range batch {
			n := i + j
			f := bufs[j][headroom:]
			copy(f, tmpl)
			// Vary the inner source port and destination address (the UDP
			// checksum goes stale: nothing on the path verifies it; the IP
			// header checksum is updated, as the pipeline checks it); 4096
			// ports per destination keeps each port allocation a keep or a
			// short probe, as on a real gateway.
			f[inner+34] = byte(n>>8) & 0x0f
			f[inner+35] = byte(n)
			setDstLow(f[inner+14:], 100+byte(n>>20)&0x7f, byte(n>>12)) // off the connected 172.31.5.0/24
			batch[j] = Packet{Buf: bufs[j], Off: headroom, Len: len(tmpl), InPort: flow.Underlay}
		}
		h.w.Process(batch)
		if batch[0].Verdict != VerdictTX {
			b.Fatalf("iteration %d: %v %v", i, batch[0].Verdict, batch[0].Reason)
		}
		// 1 µs a batch, so that connections are committed in time order.
		h.now += 1000
		if h.ct.Len() > capacity*3/4 {
			// Retire the older half by expiry, off the clock: Expire at the
			// time the connections committed before the midpoint time out.
			b.StopTimer()
			mid := oldest + (h.now-oldest)/2
			h.ct.Expire(mid + int64(conntrack.DefaultTimeouts().UDPFirst))
			oldest = mid
			b.StartTimer()
		}
	}
	b.StopTimer()
	// One packet per connection: the two rates are the same figure.
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pps")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
}

// setDstLow sets the last two bytes of the IPv4 destination of header ip to
// a.b, updating the header checksum incrementally.
func setDstLow(ip []byte, a, b byte) {
	h := packet.IPv4(ip)
	old := uint16(ip[18])<<8 | uint16(ip[19])
	ip[18], ip[19] = a, b
	h.SetChecksum(packet.Update16(h.Checksum(), old, uint16(a)<<8|uint16(b)))
}
