package engine

import (
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/flow"
)

// extraSource is a Processor that can emit frames beyond its batch: the
// pipeline holds IPv4 fragments that arrive before their datagram's first
// fragment and releases them, translated, once it has passed
// (*datapath.Worker.Extra). Their bytes live in the pipeline's memory, so
// they are copied into chunks of the port they leave by.
type extraSource interface {
	Extra() []datapath.Packet
}

// drainer is an extraSource that releases at most a bounded number of
// frames per batch and hands out the rest on request
// (*datapath.Worker.Drain): more says frames are still ready after these.
type drainer interface {
	Drain() (extra []datapath.Packet, more bool)
}

// The pipeline is both.
var (
	_ extraSource = (*datapath.Worker)(nil)
	_ drainer     = (*datapath.Worker)(nil)
)

// maxDrains bounds the Drain calls of one round, so that a stream of
// released fragments cannot starve RX; what remains makes the worker come
// back without sleeping.
const maxDrains = 8

// sendExtra transmits the extra frames of the last batch.
func (w *worker) sendExtra() {
	if es, ok := w.proc.(extraSource); ok {
		w.sendCopies(es.Extra())
	}
}

// drainExtra transmits what the processor still has ready beyond its
// batches, until it has none or maxDrains calls. It reports whether frames
// are still ready (the worker must not sleep on them).
func (w *worker) drainExtra() (more bool) {
	d, ok := w.proc.(drainer)
	if !ok {
		return false
	}
	for range maxDrains {
		var extra []datapath.Packet
		extra, more = d.Drain()
		if len(extra) == 0 {
			return more
		}
		w.sendCopies(extra)
	}
	return more
}

// sendCopies transmits the frames of extra that have VerdictTX, by copy,
// on their output ports, in chunks of at most len(w.txf) (the pipeline
// counted every one as TX: none is left behind for lack of scratch room).
// Released fragments and packets held for a next hop both leave this way:
// their bytes are the pipeline's, never a UMEM frame.
func (w *worker) sendCopies(extra []datapath.Packet) {
	if len(extra) == 0 {
		return
	}
	for port := range flow.Port(flow.NumPorts) {
		out := w.tx[port]
		if out == nil {
			continue
		}
		cross := w.cross[:0]
		for i := range extra {
			if extra[i].Verdict != datapath.VerdictTX || extra[i].OutPort != port {
				continue
			}
			cross = append(cross, i)
			if len(cross) == len(w.txf) {
				w.transmitCopies(out, extra, cross)
				cross = w.cross[:0]
			}
		}
		if len(cross) > 0 {
			w.transmitCopies(out, extra, cross)
		}
	}
}
