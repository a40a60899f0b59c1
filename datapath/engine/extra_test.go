package engine

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/datapath/afxdp"
	"github.com/xgw-dev/xgw/flow"
)

// memPort is an afxdp.Port in memory, for the worker loop without a lab:
// Receive hands out the frames given to inject, Queue records copies of
// what is transmitted. FD is -1, which Ppoll ignores: sleep is a timeout.
type memPort struct {
	mu     sync.Mutex
	chunks [][]byte
	free   []uint64
	rx     []afxdp.Frame
	sent   [][]byte
}

func newMemPort(n int) *memPort {
	m := &memPort{}
	for i := range n {
		m.chunks = append(m.chunks, make([]byte, 2048))
		m.free = append(m.free, uint64(i))
	}
	return m
}

// inject queues frame for Receive.
func (m *memPort) inject(frame []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.free[len(m.free)-1]
	m.free = m.free[:len(m.free)-1]
	m.rx = append(m.rx, afxdp.Frame{Addr: a, Off: 256, Len: copy(m.chunks[a][256:], frame)})
}

// transmitted returns copies of the frames queued for TX so far.
func (m *memPort) transmitted() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.sent...)
}

func (m *memPort) Receive(frames []afxdp.Frame) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := copy(frames, m.rx)
	m.rx = m.rx[n:]
	return n, nil
}

func (m *memPort) Transmit(frames []afxdp.Frame) (int, error) { return m.Queue(frames) }

func (m *memPort) Queue(frames []afxdp.Frame) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range frames {
		m.sent = append(m.sent, append([]byte(nil), m.chunks[f.Addr][f.Off:f.Off+f.Len]...))
		m.free = append(m.free, f.Addr) // "completed" at once
	}
	return len(frames), nil
}

func (m *memPort) Flush() error { return nil }
func (m *memPort) Pending() int { return 0 }

func (m *memPort) Alloc(frames []afxdp.Frame) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := min(len(frames), len(m.free))
	for i := range n {
		frames[i] = afxdp.Frame{Addr: m.free[len(m.free)-1], Off: 256}
		m.free = m.free[:len(m.free)-1]
	}
	return n
}

func (m *memPort) Release(frames []afxdp.Frame) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range frames {
		m.free = append(m.free, f.Addr)
	}
}

func (m *memPort) Buf(f *afxdp.Frame) []byte { return m.chunks[f.Addr] }
func (m *memPort) Poll(time.Duration) error  { return nil }
func (m *memPort) FD() int                   { return -1 }
func (m *memPort) Stats() afxdp.Stats        { return afxdp.Stats{} }
func (m *memPort) Close() error              { return nil }

// releaser models the pipeline's fragment release: each frame it
// processes (dropped itself) releases total extra frames to the external
// port, numbered, of which Process hands out at most perCall (Extra) and
// each Drain the next perCall.
type releaser struct {
	total, perCall int
	next, ready    int // numbers handed out so far, and ready to be
	bufs           [][]byte
	out            []datapath.Packet
}

func (r *releaser) Process(batch []datapath.Packet) {
	for i := range batch {
		batch[i].Verdict = datapath.VerdictDrop
		r.ready += r.total
	}
	r.release()
}

func (r *releaser) release() {
	r.out = r.out[:0]
	for len(r.out) < r.perCall && r.ready > 0 {
		b := r.bufs[len(r.out)]
		binary.BigEndian.PutUint32(b, uint32(r.next))
		r.out = append(r.out, datapath.Packet{Buf: b, Len: 60, Verdict: datapath.VerdictTX, OutPort: flow.External})
		r.next++
		r.ready--
	}
}

func (r *releaser) Extra() []datapath.Packet { return r.out }

func (r *releaser) Drain() ([]datapath.Packet, bool) {
	r.release()
	return r.out, r.ready > 0
}

// TestWorkerDrainsExtra: one received frame makes the processor release
// 40 extra frames, 32 with its batch and the rest by Drain, and the
// worker's batch (8) is smaller than either. All 40 leave, each once,
// without any further traffic. Before, the worker transmitted at most a
// batch's worth of each Extra (the rest silently lost, though counted TX
// by the pipeline) and never asked for the rest, which waited for the
// next batch (up to PollTimeout asleep, or forever without traffic).
func TestWorkerDrainsExtra(t *testing.T) {
	const total, perCall, batch = 40, 32, 8
	proc := &releaser{total: total, perCall: perCall}
	for range perCall {
		proc.bufs = append(proc.bufs, make([]byte, 60))
	}
	under, ext := newMemPort(64), newMemPort(64)
	e := &Engine{
		cfg:   Config{BatchSize: batch, PollTimeout: 200 * time.Millisecond, NewProcessor: func() Processor { return proc }},
		under: []*xport{{ifname: "u", role: flow.Underlay, p: under}},
		ext:   []*xport{{ifname: "e", role: flow.External, p: ext}},
	}
	w := e.newWorker(0)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() { defer close(done); w.run(&stop) }()
	defer func() { stop.Store(true); <-done }()

	under.inject(make([]byte, 60))
	deadline := time.Now().Add(5 * time.Second)
	var sent [][]byte
	for {
		sent = ext.transmitted()
		if len(sent) >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if len(sent) != total {
		t.Fatalf("%d of %d extra frames transmitted in 5s without further traffic (underlay got %d)", len(sent), total, len(under.transmitted()))
	}
	seen := map[uint32]bool{}
	for _, f := range sent {
		n := binary.BigEndian.Uint32(f)
		if n >= total || seen[n] {
			t.Fatalf("frame %d transmitted twice or unknown; got %d frames", n, len(sent))
		}
		seen[n] = true
	}
}
