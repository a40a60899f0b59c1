package engine

import (
	"sync/atomic"

	"github.com/xgw-dev/xgw/datapath/afxdp"
)

// Stats are the engine's own counters: what happens to frames between the
// AF_XDP rings and the pipeline, summed over workers.
type Stats struct {
	Batches           uint64 // non-empty batches processed
	Frames            uint64 // frames received and given to the pipeline
	PassAfterRedirect uint64 // VerdictPass on a frame already in AF_XDP: dropped (expected ~0)
	TxInPlace         uint64 // frames sent back out of the interface they came in on
	TxCopied          uint64 // frames copied to the other interface and sent
	TxRingFull        uint64 // frames dropped because the TX ring was full
	TxNoFrame         uint64 // frames dropped: no free chunk on the other interface
	TxTooBig          uint64 // frames dropped: larger than the other interface's chunk
	Errors            uint64 // port errors (receive, transmit, poll)
	Expired           uint64 // conntrack entries removed by the expiry ticker
}

// PortStats are one AF_XDP socket's counters.
type PortStats struct {
	Interface string
	Queue     int
	Stats     afxdp.Stats
}

// counters are one worker's; the worker adds with atomics once per batch
// so readers need no lock.
type counters struct {
	batches, frames, passAfterRedirect, txInPlace, txCopied,
	txRingFull, txNoFrame, txTooBig, errors atomic.Uint64
}

func (c *counters) addTo(s *Stats) {
	s.Batches += c.batches.Load()
	s.Frames += c.frames.Load()
	s.PassAfterRedirect += c.passAfterRedirect.Load()
	s.TxInPlace += c.txInPlace.Load()
	s.TxCopied += c.txCopied.Load()
	s.TxRingFull += c.txRingFull.Load()
	s.TxNoFrame += c.txNoFrame.Load()
	s.TxTooBig += c.txTooBig.Load()
	s.Errors += c.errors.Load()
}
