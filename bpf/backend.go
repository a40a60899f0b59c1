package bpf

import (
	"errors"
	"fmt"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/offload"
)

// Backend is the XDP fast path as an offload backend. Its clock is
// bpf_ktime (CLOCK_MONOTONIC), and a full flows map is offload.ErrFull.
type Backend struct{ fp *FastPath }

// NewBackend returns the offload backend over fp.
func NewBackend(fp *FastPath) *Backend { return &Backend{fp: fp} }

var _ offload.Backend = (*Backend)(nil)

// Name implements offload.Backend.
func (b *Backend) Name() string { return "xdp" }

// Now implements offload.Backend: the clock of the entries' last_seen.
func (b *Backend) Now() int64 { return int64(Ktime()) }

// InstallBatch implements offload.Backend.
func (b *Backend) InstallBatch(a []flow.Action) (int, error) {
	n, err := b.fp.InstallBatch(a)
	if errors.Is(err, ErrFull) {
		err = fmt.Errorf("%w: %w", offload.ErrFull, err)
	}
	return n, err
}

// RemoveBatch implements offload.Backend.
func (b *Backend) RemoveBatch(k []flow.Key) (int, error) { return b.fp.RemoveBatch(k) }

// Counters implements offload.Backend.
func (b *Backend) Counters(k flow.Key) (offload.Counters, error) {
	f, err := b.fp.Lookup(k)
	if err != nil {
		return offload.Counters{}, err
	}
	return counters(&f), nil
}

// Iterate implements offload.Backend.
func (b *Backend) Iterate(fn func(a *flow.Action, c offload.Counters) bool) error {
	for f, err := range b.fp.Flows() {
		if err != nil {
			return err
		}
		if !fn(&f.Action, counters(&f)) {
			return nil
		}
	}
	return nil
}

func counters(f *Flow) offload.Counters {
	return offload.Counters{Packets: f.Packets, Bytes: f.Bytes, LastSeen: int64(f.LastSeenKtime)}
}

// Clear removes every flow, IPv4 and IPv6, and returns how many there
// were: what a gateway with offload off does with the entries a previous
// one left.
func (f *FastPath) Clear() (int, error) {
	var keys []flow.Key
	for fl, err := range f.Flows() {
		if err != nil {
			return 0, err
		}
		keys = append(keys, fl.Action.Key)
	}
	n, err := f.RemoveBatch(keys)
	if err != nil {
		return n, err
	}
	var keys6 []flow.Key6
	for fl, err := range f.Flows6() {
		if err != nil {
			return n, err
		}
		keys6 = append(keys6, fl.Action.Key)
	}
	for _, k := range keys6 {
		if err := f.Remove6(k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

var _ offload.Backend6 = (*Backend)(nil)

// InstallBatch6 implements offload.Backend6 (one update per flow).
func (b *Backend) InstallBatch6(a []flow.Action6) (int, error) {
	for i := range a {
		if err := b.fp.Install6(&a[i]); err != nil {
			if errors.Is(err, ErrFull) {
				err = fmt.Errorf("%w: %w", offload.ErrFull, err)
			}
			return i, err
		}
	}
	return len(a), nil
}

// RemoveBatch6 implements offload.Backend6.
func (b *Backend) RemoveBatch6(k []flow.Key6) (int, error) {
	for i := range k {
		if err := b.fp.Remove6(k[i]); err != nil {
			return i, err
		}
	}
	return len(k), nil
}

// Counters6 implements offload.Backend6.
func (b *Backend) Counters6(k flow.Key6) (offload.Counters, error) {
	f, err := b.fp.Lookup6(k)
	if err != nil {
		return offload.Counters{}, err
	}
	return offload.Counters{Packets: f.Packets, Bytes: f.Bytes, LastSeen: int64(f.LastSeenKtime)}, nil
}

// Iterate6 implements offload.Backend6.
func (b *Backend) Iterate6(fn func(a *flow.Action6, c offload.Counters) bool) error {
	for f, err := range b.fp.Flows6() {
		if err != nil {
			return err
		}
		if f.ICMPType == icmp6EchoReply {
			// The map keeps the echo type, not the connections; a dump
			// names the type by the connections' direction.
			f.Action.Conns[0].Dir, f.Action.Conns[1].Dir = conntrack.DirReply, conntrack.DirReply
		}
		if !fn(&f.Action, offload.Counters{Packets: f.Packets, Bytes: f.Bytes, LastSeen: int64(f.LastSeenKtime)}) {
			return nil
		}
	}
	return nil
}
