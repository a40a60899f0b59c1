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

// sendExtra transmits the extra frames of the last batch that have
// VerdictTX, by copy, on their output ports.
func (w *worker) sendExtra() {
	es, ok := w.proc.(extraSource)
	if !ok {
		return
	}
	extra := es.Extra()
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
			if extra[i].Verdict == datapath.VerdictTX && extra[i].OutPort == port && len(cross) < len(w.txf) {
				cross = append(cross, i)
			}
		}
		if len(cross) > 0 {
			w.transmitCopies(out, extra, cross)
		}
	}
}
