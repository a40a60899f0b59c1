package datapath

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// runWorkers splits b.N packets over workers goroutines, each on its own
// locked OS thread running its own worker's batches through step, and
// reports the aggregate rate (pps: packets over wall time, all goroutines
// started together) and, per packet over all workers, the CPU their
// threads spent (cpu-ns/pkt, RUSAGE_THREAD), the time they were runnable
// but waited for a CPU that other processes held (runq-ns/pkt, schedstat's
// run_delay) and the rest of their wall time (blocked-ns/pkt: asleep,
// mostly on conntrack's locks). On a machine shared with other work, wall
// time also counts the run-queue wait; unloaded-pps leaves it out (packets
// over the slowest worker's wall time less its run-queue wait), so that
// the ratio of workers=2 to workers=1 says how far the workers scale
// rather than how busy the machine was. The contention cost of a second
// worker shows as the rise of cpu-ns/pkt (cache lines moving between the
// CPUs) and of blocked-ns/pkt (waiting for a lock) from workers=1 to 2.
func runWorkers(b *testing.B, workers int, step func(w, batch int)) {
	per := (b.N/workers + batchSize - 1) / batchSize // batches per worker
	var start sync.WaitGroup
	var done sync.WaitGroup
	var cpu, delay, busy atomic.Int64
	var slowest atomic.Int64
	start.Add(1)
	for w := 0; w < workers; w++ {
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start.Wait()
			t0, c0, d0 := time.Now(), threadCPU(), threadRunDelay()
			for i := 0; i < per; i++ {
				step(w, i)
			}
			el, c, d := time.Since(t0), threadCPU()-c0, threadRunDelay()-d0
			cpu.Add(int64(c))
			delay.Add(int64(d))
			// The worker's time but for waiting for a CPU other
			// processes held: running plus blocked (on locks).
			on := int64(el - d)
			busy.Add(on)
			for {
				s := slowest.Load()
				if on <= s || slowest.CompareAndSwap(s, on) {
					break
				}
			}
		}()
	}
	b.ResetTimer()
	t0 := time.Now()
	start.Done()
	done.Wait()
	el := time.Since(t0)
	b.StopTimer()
	pkts := float64(per * batchSize * workers)
	b.ReportMetric(pkts/el.Seconds(), "pps")
	if c := cpu.Load(); c > 0 {
		b.ReportMetric(float64(c)/pkts, "cpu-ns/pkt")
	}
	if d := delay.Load(); d >= 0 && slowest.Load() > 0 {
		b.ReportMetric(float64(d)/pkts, "runq-ns/pkt")
		b.ReportMetric(float64(busy.Load()-cpu.Load())/pkts, "blocked-ns/pkt")
		b.ReportMetric(pkts/time.Duration(slowest.Load()).Seconds(), "unloaded-pps")
	}
}

// threadRunDelay is the time the calling thread spent runnable but
// waiting for a CPU (schedstat's run_delay): on a machine shared with
// other work, runWorkers subtracts it to see what the workers themselves
// cost, running or blocked on each other.
func threadRunDelay() time.Duration {
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0
	}
	var run, delay int64
	if _, err := fmt.Sscan(string(b), &run, &delay); err != nil {
		return 0
	}
	return time.Duration(delay)
}

// threadCPU is the calling thread's CPU time (user and system).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPipelineParallel runs the whole pipeline (decap, both zones'
// conntrack, SNAT, encap) in 1 and 2 workers, each on its own goroutine
// and flow cache, over one shared conntrack table, as xgw runs one worker
// per RX queue. est: 20k established UDP flows, egress and reply halves,
// each worker on its own half of the flows. new: a new connection per
// packet (a miss and a commit in both zones and an SNAT port allocation),
// with a 1 s UDP timeout and the workers taking turns to call Expire,
// so that the table stays at a steady population as it would in xgw run.
// Compare workers=2 against workers=1: on 2 cores the ratio is how far
// conntrack lets the workers scale.
func BenchmarkPipelineParallel(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("est/workers=%d", workers), func(b *testing.B) {
			benchParallelEstablished(b, workers)
		})
		b.Run(fmt.Sprintf("new/workers=%d", workers), func(b *testing.B) {
			benchParallelNewConn(b, workers)
		})
	}
}

func benchParallelEstablished(b *testing.B, workers int) {
	const flows = 20000
	h := newHarness(b, seedtest.ConfigPath(), conntrack.Config{Capacity: 1 << 16, Prefault: true})
	all := establishedFlows(b, h, flows)
	sets := make([]*flowSet, workers)
	ws := make([]*Worker, workers)
	for w := range sets {
		fs := &flowSet{bufs: make([][]byte, batchSize), batch: make([]Packet, batchSize)}
		for i := range fs.bufs {
			fs.bufs[i] = make([]byte, 2048)
		}
		for f := w; f < flows; f += workers {
			fs.egress = append(fs.egress, all.egress[f])
			fs.reply = append(fs.reply, all.reply[f])
		}
		sets[w], ws[w] = fs, h.pl.NewWorker()
		// Warm the worker's flow cache outside the timer.
		for i := 0; i < len(fs.egress); i += batchSize / 2 {
			fs.fill(i)
			ws[w].Process(fs.batch)
		}
	}
	b.ReportAllocs()
	runWorkers(b, workers, func(w, i int) {
		fs := sets[w]
		fs.fill(i * batchSize / 2)
		ws[w].Process(fs.batch)
		if fs.batch[0].Verdict != VerdictTX || fs.batch[1].Verdict != VerdictTX {
			panic(fmt.Sprintf("worker %d not forwarded: %v %v", w, fs.batch[0].Reason, fs.batch[1].Reason))
		}
	})
}

func benchParallelNewConn(b *testing.B, workers int) {
	const capacity = 1 << 20
	var clock atomic.Int64
	clock.Store(int64(time.Hour))
	ct, err := conntrack.NewTable(conntrack.Config{Capacity: capacity, Prefault: true,
		Timeouts: conntrack.Timeouts{UDPFirst: time.Second, UDPSingle: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	pl, err := New(Config{Topology: seedtest.Topology(b, seedtest.ConfigPath()), Conntrack: ct,
		Neighbors: harnessNeighbors(), UnderlayMAC: [6]byte(seedtest.MACGWUnder), Clock: clock.Load})
	if err != nil {
		b.Fatal(err)
	}
	tmpl := seedtest.Egress(b, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1, DPort: 9000, Payload: make([]byte, 18)})
	binary.BigEndian.PutUint16(tmpl[40:], 0) // no outer checksum: the varied inner bytes would break it
	inner := len(tmpl) - (14 + 20 + 8 + 18)
	type state struct {
		w     *Worker
		bufs  [][]byte
		batch []Packet
		n     int
	}
	st := make([]*state, workers)
	for w := range st {
		s := &state{w: pl.NewWorker(), bufs: make([][]byte, batchSize), batch: make([]Packet, batchSize)}
		for i := range s.bufs {
			s.bufs[i] = make([]byte, 2048)
		}
		st[w] = s
	}
	b.ReportAllocs()
	runWorkers(b, workers, func(w, i int) {
		s := st[w]
		for j := range s.batch {
			n := s.n
			s.n++
			f := s.bufs[j][headroom:]
			copy(f, tmpl)
			// As BenchmarkPipelineNewConn, each worker in its own range of
			// destinations (off the connected 172.31.5.0/24).
			f[inner+34] = byte(n>>8) & 0x0f
			f[inner+35] = byte(n)
			setDstLow(f[inner+14:], 100+40*byte(w)+byte(n>>20)%40, byte(n>>12))
			s.batch[j] = Packet{Buf: s.bufs[j], Off: headroom, Len: len(tmpl), InPort: flow.Underlay}
		}
		s.w.Process(s.batch)
		if s.batch[0].Verdict != VerdictTX {
			panic(fmt.Sprintf("worker %d batch %d: %v %v", w, i, s.batch[0].Verdict, s.batch[0].Reason))
		}
		now := clock.Add(int64(time.Millisecond))
		// Every 32 batches one worker (in turn) reaps, as xgw's single
		// expiry goroutine would: the same reaping work for 1 and 2
		// workers, shared evenly.
		if i%32 == 31 && (i/32)%workers == w {
			ct.Expire(now)
		}
	})
	if ct.Len() > capacity/2 {
		b.Fatalf("table not kept steady: %d conns", ct.Len())
	}
}
