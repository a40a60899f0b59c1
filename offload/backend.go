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

// Counters are one offloaded entry's cumulative counters since it was
// installed.
type Counters struct {
	Packets, Bytes uint64
	// LastSeen is when the entry last forwarded a packet, on its backend's
	// clock (Backend.Now); 0 if it never did.
	LastSeen int64
}

// Backend is one place offloaded flows can live: bpf.Backend (the XDP fast
// path) today; a tc-flower backend on a NIC would be another. It owns its
// entries, their counters, its clock and its capacity.
//
// The manager calls a backend from one goroutine at a time (always under
// its lock), so an implementation need not be safe for concurrent use by
// the manager; it must tolerate its datapath updating counters meanwhile.
// Both directions of a flow always go to the same backend.
type Backend interface {
	// Name names the datapath in flow dumps ("dp:xdp").
	Name() string
	// Now reads the clock of Counters.LastSeen. A last-seen time t is
	// converted to conntrack's clock as Config.Clock() - (Now() - t), so
	// clocks that differ by a constant offset (monotonic vs wall) agree.
	Now() int64
	// InstallBatch inserts or replaces the entries a[i].Key -> a[i], in
	// order. It returns how many leading entries were installed; if that
	// is less than len(a), err describes a[n]: it wraps ErrFull when the
	// backend has no room, any other error is a refusal of that entry.
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

// ErrFull is what a Backend's InstallBatch error wraps when it has no
// room: the flow stays in software and is retried after a back-off.
var ErrFull = errors.New("offload: backend full")

// Backend6 is what a Backend that also holds IPv6 flows (flow.Action6,
// keyed by flow.Key6) implements beside Backend, with Backend's
// conventions (Now and Name are Backend's). IPv6 flows live apart from
// IPv4 ones so that IPv4 entries keep their size. The manager offloads
// IPv6 connections (SetIPv6) only to backends that implement it.
type Backend6 interface {
	InstallBatch6(a []flow.Action6) (n int, err error)
	RemoveBatch6(k []flow.Key6) (n int, err error)
	Counters6(k flow.Key6) (Counters, error)
	Iterate6(fn func(a *flow.Action6, c Counters) bool) error
}
