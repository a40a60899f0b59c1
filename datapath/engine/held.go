package engine

import (
	"time"

	"github.com/xgw-dev/xgw/datapath"
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
	w.sendCopies(w.pkts[:n])
	return pending
}
