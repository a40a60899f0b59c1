package offload

import (
	"slices"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// iterateAbove is the number of entries from which counters are read by
// one walk of the fast path (Iterate, batched syscalls) rather than one
// lookup per entry.
var iterateAbove = 64

// syncLocked credits the fast path's counters to conntrack and withdraws
// the flows whose connection is gone, expired or closing.
//
// Feeding counters back is what makes expiry right: conntrack never sees
// an offloaded packet, so without Touch every offloaded connection would
// time out while busy, and with a Touch that ignored the fast path's
// last-seen time an idle one would never time out. Touch only refreshes
// when packets moved, from the time the fast path last saw one.
func (m *Manager) syncLocked(now int64) {
	flows := make([]*tracked, 0, len(m.offloaded))
	for _, f := range m.offloaded {
		flows = append(flows, f)
	}
	m.creditLocked(flows, now)
	for _, f := range flows {
		if f.state != stateOffloaded {
			continue // withdrawn by creditLocked
		}
		if r, dead := m.checkLocked(f, now); dead {
			m.withdrawLocked(f, r)
		}
	}
	m.st.syncs.Add(1)
}

// checkLocked tells whether an offloaded flow must go, and why.
func (m *Manager) checkLocked(f *tracked, now int64) (why, bool) {
	for _, c := range f.dirConns(0) {
		ci, ok := m.conn(c.Handle, f.v6 != nil)
		if !ok || ci.Expires <= now {
			return whyExpired, true
		}
		if ci.Proto == packet.ProtoTCP && ci.TCP != conntrack.TCPEstablished {
			return whyFinRst, true
		}
	}
	return 0, false
}

// creditLocked reads the counters of flows (offloaded ones) and credits
// what they forwarded since the last read to their conntrack entries. A
// flow whose entries vanished from the fast path is withdrawn (whyError)
// with its mark cleared, so the pipeline offers it again.
func (m *Manager) creditLocked(flows []*tracked, now int64) {
	if len(flows) == 0 {
		return
	}
	// IPv4 flows first, then IPv6 ones, each grouped by backend, each
	// read where its flows live.
	fam := func(f *tracked) int {
		if f.v6 != nil {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(flows, func(a, b *tracked) int {
		if d := fam(a) - fam(b); d != 0 {
			return d
		}
		return a.be - b.be
	})
	n4 := 0
	for n4 < len(flows) && flows[n4].v6 == nil {
		n4++
	}
	cs := make([]Counters, 2*len(flows))
	found := make([]bool, 2*len(flows))
	m.readAll4(flows[:n4], cs[:2*n4], found[:2*n4])
	m.readAll6(flows[n4:], cs[2*n4:], found[2*n4:])
	bNow := make([]int64, len(m.bes))
	for bi, b := range m.bes {
		bNow[bi] = b.Now()
	}
	for i, f := range flows {
		if !found[2*i] || !found[2*i+1] {
			m.withdrawLocked(f, whyError)
			m.markLocked(f.pair(), false)
			continue
		}
		for d := range 2 {
			c := cs[2*i+d]
			dp, db := c.Packets-f.seen[d].Packets, c.Bytes-f.seen[d].Bytes
			if c.Packets < f.seen[d].Packets {
				dp, db = c.Packets, c.Bytes // the entry was replaced: counts restarted
			}
			f.seen[d] = c
			if dp == 0 {
				continue
			}
			last := convert(c.LastSeen, now, bNow[f.be])
			for _, conn := range f.dirConns(d) {
				m.touch(conn, f.v6 != nil, dp, db, last)
			}
		}
	}
}

// convert maps a backend's last-seen time onto conntrack's clock: the age
// the backend measured (bNow, its clock, minus t), subtracted from
// conntrack's now. Clocks that disagree by a constant offset (monotonic vs
// wall) cancel out.
func convert(t, now, bNow int64) int64 {
	if t == 0 {
		return now // packets but no time: credit them as of now
	}
	return now - max(0, bNow-t)
}

// readAll4 reads the counters of IPv4 flows (sorted by backend) into cs
// and found, fwd then rev for each flow.
func (m *Manager) readAll4(flows []*tracked, cs []Counters, found []bool) {
	keys := make([]flow.Key, 0, 2*len(flows))
	for _, f := range flows {
		keys = append(keys, f.fwd.Key, f.rev.Key)
	}
	byBackend(flows, func(be, i, j int) {
		b := m.bes[be]
		readCounters(b.Counters, b.Iterate, func(a *flow.Action) flow.Key { return a.Key }, m.keyIdx,
			keys[2*i:2*j], cs[2*i:2*j], found[2*i:2*j])
	})
}

// readAll6 is readAll4 for IPv6 flows.
func (m *Manager) readAll6(flows []*tracked, cs []Counters, found []bool) {
	keys := make([]flow.Key6, 0, 2*len(flows))
	for _, f := range flows {
		keys = append(keys, f.v6.fwd.Key, f.v6.rev.Key)
	}
	byBackend(flows, func(be, i, j int) {
		b := m.bes6[be]
		if b == nil {
			return // never installed there: not found
		}
		readCounters(b.Counters6, b.Iterate6, func(a *flow.Action6) flow.Key6 { return a.Key }, m.keyIdx6,
			keys[2*i:2*j], cs[2*i:2*j], found[2*i:2*j])
	})
}

// byBackend calls fn for each run flows[i:j] of flows (sorted by
// backend) on backend be.
func byBackend(flows []*tracked, fn func(be, i, j int)) {
	for i := 0; i < len(flows); {
		j := i
		for j < len(flows) && flows[j].be == flows[i].be {
			j++
		}
		fn(flows[i].be, i, j)
		i = j
	}
}

// readCounters fills cs[i] for keys[i] (found[i] false if the backend
// does not have it), by lookups or, for many keys, one walk (iterate),
// using idx as scratch.
func readCounters[K comparable, A any](lookup func(K) (Counters, error), iterate func(func(*A, Counters) bool) error,
	keyOf func(*A) K, idx map[K]int, keys []K, cs []Counters, found []bool) {
	if len(keys) <= iterateAbove {
		for i, k := range keys {
			c, err := lookup(k)
			cs[i], found[i] = c, err == nil
		}
		return
	}
	clear(idx)
	for i, k := range keys {
		idx[k] = i
	}
	err := iterate(func(a *A, c Counters) bool {
		if i, ok := idx[keyOf(a)]; ok {
			cs[i], found[i] = c, true
		}
		return true
	})
	clear(idx)
	if err != nil {
		// A failed walk proves nothing about the entries it missed: fall
		// back to lookups for those.
		for i, k := range keys {
			if !found[i] {
				c, err := lookup(k)
				cs[i], found[i] = c, err == nil
			}
		}
	}
}

// withdrawLocked queues the removal of f's entries, forward first (the
// mirror of installation: new requests go to software, where conntrack
// sees them, before their replies do) and forgets f. The caller credits
// the counters first if it wants them.
func (m *Manager) withdrawLocked(f *tracked, r why) {
	if f.state != stateOffloaded {
		return
	}
	if f.v6 != nil {
		m.toRemove6[f.be] = append(m.toRemove6[f.be], f.v6.fwd.Key, f.v6.rev.Key)
		for _, k := range [2]flow.Key6{f.v6.fwd.Key, f.v6.rev.Key} {
			if m.byKey6[k] == f {
				delete(m.byKey6, k)
			}
		}
	} else {
		m.toRemove[f.be] = append(m.toRemove[f.be], f.fwd.Key, f.rev.Key)
		for _, k := range [2]flow.Key{f.fwd.Key, f.rev.Key} {
			if m.byKey[k] == f {
				delete(m.byKey, k)
			}
		}
	}
	delete(m.offloaded, f.pair())
	m.unregisterLocked(f)
	m.st.withdrawn[r].Add(1)
}
