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
	for _, c := range f.fwd.Conns {
		ci, ok := m.ct.Get(c.Handle)
		if !ok || ci.Expires <= now {
			return whyExpired, true
		}
		if ci.Orig.Proto == packet.ProtoTCP && ci.TCP != conntrack.TCPEstablished {
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
	// Grouped by backend, each read where its flows live.
	slices.SortStableFunc(flows, func(a, b *tracked) int { return a.be - b.be })
	keys := make([]flow.Key, 0, 2*len(flows))
	for _, f := range flows {
		keys = append(keys, f.fwd.Key, f.rev.Key)
	}
	cs := make([]Counters, len(keys))
	found := make([]bool, len(keys))
	bNow := m.readAllCounters(flows, keys, cs, found)
	for i, f := range flows {
		if !found[2*i] || !found[2*i+1] {
			m.withdrawLocked(f, whyError)
			m.markLocked(pairOf(f.cand.Conns), false)
			continue
		}
		for d, a := range [2]*flow.Action{&f.fwd, &f.rev} {
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
			for _, conn := range a.Conns {
				m.ct.Touch(conn.Handle, conn.Dir, dp, db, last)
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

// readAllCounters reads the counters of flows (sorted by backend; keys
// holds their fwd and rev keys in order) from their backends, and returns
// each backend's clock as of the read.
func (m *Manager) readAllCounters(flows []*tracked, keys []flow.Key, cs []Counters, found []bool) []int64 {
	bNow := make([]int64, len(m.bes))
	for i := 0; i < len(flows); {
		be := flows[i].be
		j := i
		for j < len(flows) && flows[j].be == be {
			j++
		}
		m.readCounters(m.bes[be], keys[2*i:2*j], cs[2*i:2*j], found[2*i:2*j])
		bNow[be] = m.bes[be].Now()
		i = j
	}
	return bNow
}

// readCounters fills cs[i] for keys[i] (found[i] false if it is not in
// b), by lookups or, for many keys, one Iterate.
func (m *Manager) readCounters(b Backend, keys []flow.Key, cs []Counters, found []bool) {
	if len(keys) <= iterateAbove {
		for i, k := range keys {
			c, err := b.Counters(k)
			cs[i], found[i] = c, err == nil
		}
		return
	}
	idx := m.keyIdx
	clear(idx)
	for i, k := range keys {
		idx[k] = i
	}
	err := b.Iterate(func(a *flow.Action, c Counters) bool {
		if i, ok := idx[a.Key]; ok {
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
				c, err := b.Counters(k)
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
	m.toRemove[f.be] = append(m.toRemove[f.be], f.fwd.Key, f.rev.Key)
	for _, k := range [2]flow.Key{f.fwd.Key, f.rev.Key} {
		if m.byKey[k] == f {
			delete(m.byKey, k)
		}
	}
	delete(m.offloaded, pairOf(f.cand.Conns))
	m.unregisterLocked(f)
	m.st.withdrawn[r].Add(1)
}
