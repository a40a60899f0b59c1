package offload

import (
	"errors"

	"github.com/xgw-dev/xgw/flow"
)

// Planner computes the fast-path actions of both directions of a
// connection. *datapath.Pipeline implements it (PlanFlow), so the fast path
// can never disagree with the software pipeline.
type Planner interface {
	PlanFlow(c flow.Candidate) (fwd, rev flow.Action, err error)
}

// Counters are one fast-path entry's cumulative counters since it was
// installed.
type Counters struct {
	Packets, Bytes uint64
	// LastSeen is when the entry last forwarded a packet, on the fast
	// path's clock (Config.FastPathClock); 0 if it never did.
	LastSeen int64
}

// FastPath is the subset of the XDP fast path's map API the manager uses.
// The manager calls it from one goroutine at a time (always under its
// lock), so an implementation need not be safe for concurrent use by the
// manager; it must tolerate the XDP program updating counters meanwhile.
type FastPath interface {
	// InstallBatch inserts or replaces the entries a[i].Key -> a[i], in
	// order. It returns how many leading entries were installed; if that is
	// less than len(a), err describes a[n] (Config.IsFull tells a full map).
	InstallBatch(a []flow.Action) (n int, err error)
	// RemoveBatch deletes entries by key, in order, with InstallBatch's
	// (n, err) convention.
	RemoveBatch(k []flow.Key) (n int, err error)
	// Counters reads one entry's counters; an error means the entry is not
	// there (or cannot be read).
	Counters(k flow.Key) (Counters, error)
	// Iterate calls fn for every entry until fn returns false. a is only
	// valid during the call. It is the batch way to read many counters.
	Iterate(fn func(a *flow.Action, c Counters) bool) error
}

// ErrFull is the default error by which a FastPath says its map has no
// room (see Config.IsFull).
var ErrFull = errors.New("offload: fast path full")
