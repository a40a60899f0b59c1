package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/datapath/afxdp"
)

// dropper drops every frame: the worker's cost without the pipeline or TX.
type dropper struct{}

func (dropper) Process(batch []datapath.Packet) {
	for i := range batch {
		batch[i].Verdict = datapath.VerdictDrop
	}
}

// procHolder lets a benchmark choose the Processor after the lab exists.
type procHolder struct{ p atomic.Pointer[Processor] }

func (h *procHolder) Process(batch []datapath.Packet) { (*h.p.Load()).Process(batch) }

// BenchmarkWorkerRings measures what the worker's thread spends per frame
// outside the pipeline, over live rings in copy mode (veth): "drop" is
// receive, header touch and release; "reflect" adds TX in place (queue,
// sendto kicks, which in copy mode include the kernel's copy and the veth
// transmit). Traffic comes from 4 sockets in the peer namespace as fast as
// they go for one second. Reported: worker CPU ns per frame (its thread's
// CPU clock), frames per kick, frames per batch.
//
//	sudo go test -run - -bench WorkerRings -benchtime 1x ./datapath/engine
func BenchmarkWorkerRings(b *testing.B) {
	for _, c := range []struct {
		name string
		proc func(*engLab) Processor
	}{
		{"drop", func(*engLab) Processor { return dropper{} }},
		{"reflect", func(l *engLab) Processor { return &reflector{underlayPeer: l.ubMAC} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := &procHolder{}
			l := newEngLab(b, h, afxdp.Config{})
			p := c.proc(l)
			h.p.Store(&p)
			conns := l.dial(b, "192.0.2.1:6081", 4)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- l.eng.Run(ctx) }()
			var stop atomic.Bool
			var wg sync.WaitGroup
			for _, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					msg := make([]byte, 64)
					for !stop.Load() {
						c.Write(msg)
					}
				}()
			}
			// Warm-up: until the worker receives, bounded.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if l.eng.Stats().Frames > 0 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("no frame reached the worker in 10s: %+v, ports %+v", l.eng.Stats(), l.eng.Ports())
				}
			}
			s0, w0, k0 := l.eng.Stats(), l.eng.Workers()[0].Busy, kicks(l.eng)
			b.ResetTimer()
			time.Sleep(time.Second)
			b.StopTimer()
			s1, w1, k1 := l.eng.Stats(), l.eng.Workers()[0].Busy, kicks(l.eng)
			stop.Store(true)
			wg.Wait()
			cancel()
			<-done
			frames := float64(s1.Frames - s0.Frames)
			if frames == 0 {
				b.Fatalf("no frames: %+v", s1)
			}
			b.ReportMetric(float64((w1-w0).Nanoseconds())/frames, "worker-ns/frame")
			b.ReportMetric(frames, "frames/s")
			b.ReportMetric(frames/float64(s1.Batches-s0.Batches), "frames/batch")
			if k1 > k0 {
				b.ReportMetric(float64(s1.TxInPlace-s0.TxInPlace)/float64(k1-k0), "frames/kick")
			}
		})
	}
}

func kicks(e *Engine) (n uint64) {
	for _, p := range e.Ports() {
		n += p.Stats.TxKicks
	}
	return n
}
