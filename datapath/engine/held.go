package engine

import (
	"time"

	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/flow"
)

// Holder is a Processor that holds packets back (*datapath.Worker: frames
// waiting for a next hop's MAC) and hands them out when they can go.
// Ready fills out with TX packets whose Bufs belong to the Holder and stay
// valid until its next Ready or Process; pending says more are held.
type Holder interface {
	Ready(out []datapath.Packet) (n int, pending bool)
}

// holdPoll is the longest idle sleep while packets are held, so that they
// leave soon after their next hop resolves even without other traffic.
const holdPoll = time.Millisecond

// sendHeld transmits what the processor releases, copied into frames of
// the TX port (the Holder's memory is never a UMEM frame). It reports
// whether packets are still held.
func (w *worker) sendHeld() bool {
	if w.holder == nil {
		return false
	}
	n, pending := w.holder.Ready(w.pkts)
	for port := range flow.NumPorts {
		idx := w.cross[:0]
		for i := range n {
			if w.pkts[i].Verdict == datapath.VerdictTX && w.pkts[i].OutPort == port {
				idx = append(idx, i)
			}
		}
		if len(idx) > 0 {
			w.copyTo(w.tx[port], idx)
		}
	}
	return pending
}

// copyTo copies the frames at idx of w.pkts into chunks of out and
// transmits them.
func (w *worker) copyTo(out *xport, idx []int) {
	out.mu.Lock()
	defer out.mu.Unlock()
	k := out.p.Alloc(w.txf[:len(idx)])
	if k < len(idx) {
		w.c.txNoFrame.Add(uint64(len(idx) - k))
	}
	m := 0
	orel := w.orel[:0]
	for j, i := range idx[:k] {
		src := w.pkts[i].Frame()
		dst := w.txf[j]
		buf := out.p.Buf(&dst)
		if dst.Off+len(src) > len(buf) {
			w.c.txTooBig.Add(1)
			orel = append(orel, dst)
			continue
		}
		dst.Len = copy(buf[dst.Off:], src)
		w.txf[m] = dst
		m++
	}
	if m > 0 {
		sent, err := out.p.Transmit(w.txf[:m])
		if err != nil {
			w.c.errors.Add(1)
		}
		if sent < m {
			w.c.txRingFull.Add(uint64(m - sent))
			orel = append(orel, w.txf[sent:m]...)
		}
		w.c.txCopied.Add(uint64(sent))
	}
	if len(orel) > 0 {
		out.p.Release(orel)
	}
}
