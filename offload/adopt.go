package offload

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// AdoptFunc re-creates in conntrack the connection an adopted fast-path
// entry belongs to, from its forward direction (see Adopt), and returns
// the connection's entries in the DNAT and SNAT zones with fwd's direction
// in each. The connection must come back established (TCP in both
// peers), or the first sync withdraws it.
type AdoptFunc func(fwd flow.Action) ([2]flow.Conn, error)

// AdoptFunc6 is AdoptFunc for IPv6 entries: the connection goes in the
// manager's Table6.
type AdoptFunc6 func(fwd flow.Action6) ([2]flow.Conn, error)

// Adopt takes over the entries a previous xgw left in pinned maps. Their
// connections died with that process's conntrack table, and a fast-path
// entry without a connection would forward with nobody crediting its
// counters or ever withdrawing it. The simplest correct approach is used:
//
//   - entries are paired into flows: b is a's reverse if b arrives where a
//     leaves, with a's output addresses and ports swapped, and a is b's
//     reverse in turn;
//   - the forward direction is the one whose stored Conns say DirOrig in
//     the SNAT zone, or else the one arriving on the underlay (from the
//     VMs, as SNAT'd connections start);
//   - adopt commits the connection (the lead's code: it knows the
//     topology) and the flow is bound to the new handles, marked seen and
//     offloaded; its current counters become the baseline, so the old
//     process's packets are not credited twice;
//   - everything unpaired, refused by adopt, or clashing with a flow the
//     manager already has is removed, and goes back to software.
//
// The entries themselves are not rewritten (the fast path does not need
// the handles to forward). Each backend is adopted on its own: a flow's two
// directions live in one. Call Adopt before the pipeline starts.
//
// IPv6 entries (Backend6) are adopted the same way with adopt6, into the
// manager's Table6 (SetIPv6); with adopt6 nil, or IPv6 not wired, they are
// all removed (counted in removed and AdoptFailed), so their connections
// go back to software, are committed afresh and offloaded again.
func (m *Manager) Adopt(adopt AdoptFunc, adopt6 AdoptFunc6) (adopted, removed int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for bi := range m.bes {
		a, r, err := m.adoptLocked(bi, adopt)
		adopted, removed = adopted+a, removed+r
		if err != nil {
			return adopted, removed, err
		}
		a, r, err = m.adoptLocked6(bi, adopt6)
		adopted, removed = adopted+a, removed+r
		if err != nil {
			return adopted, removed, err
		}
	}
	m.publishLocked()
	return adopted, removed, nil
}

// pairEntries pairs n entries into flows: j is i's reverse if it arrives
// where i leaves (in(j) == out(i)) and i is j's reverse in turn. in is an
// entry's 5-tuple and arriving port, out the same of its reverse as
// derived from its action. Each entry is in at most one pair; the rest
// are returned as single.
func pairEntries[T comparable](n int, in, out func(i int) T) (pairs [][2]int, single []int) {
	byT := make(map[T][]int, n)
	for i := range n {
		byT[in(i)] = append(byT[in(i)], i)
	}
	used := make([]bool, n)
	for i := range n {
		if used[i] {
			continue
		}
		used[i] = true
		j := -1
		for _, c := range byT[out(i)] {
			if !used[c] && out(c) == in(i) {
				j = c
				break
			}
		}
		if j < 0 {
			single = append(single, i)
			continue
		}
		used[j] = true
		pairs = append(pairs, [2]int{i, j})
	}
	return pairs, single
}

// adoptLocked adopts the IPv4 entries of backend bi.
func (m *Manager) adoptLocked(bi int, adopt AdoptFunc) (adopted, removed int, err error) {
	type entry struct {
		a flow.Action
		c Counters
	}
	var all []entry
	err = m.bes[bi].Iterate(func(a *flow.Action, c Counters) bool {
		all = append(all, entry{a: *a, c: c})
		return true
	})
	if err != nil {
		return 0, 0, err
	}
	// Matched on the 5-tuple and the port a packet arrives on; VNI and
	// inner MAC are left out because a reverse key's cannot be derived
	// from the forward action (it is the join switch's, not the encap's).
	type tkey struct {
		in           flow.Port
		src, dst     [4]byte
		sport, dport uint16
		proto        uint8
	}
	pairs, single := pairEntries(len(all),
		func(i int) tkey {
			k := &all[i].a.Key
			return tkey{k.InPort, k.Src, k.Dst, k.SrcPort, k.DstPort, k.Proto}
		},
		func(i int) tkey {
			a := &all[i].a
			return tkey{a.OutPort, a.NATDst, a.NATSrc, a.NATDstPort, a.NATSrcPort, a.Key.Proto}
		})
	now := m.cfg.Clock()
	drop := func(keys ...flow.Key) {
		m.toRemove[bi] = append(m.toRemove[bi], keys...)
		removed += len(keys)
		m.st.adoptFailed.Add(uint64(len(keys)))
	}
	for _, i := range single {
		drop(all[i].a.Key)
	}
	for _, ij := range pairs {
		fwd, rev := &all[ij[0]], &all[ij[1]]
		if !isForward(fwd.a.Conns, rev.a.Conns, fwd.a.Key.InPort, rev.a.Key.InPort) {
			fwd, rev = rev, fwd
		}
		if m.byKey[fwd.a.Key] != nil || m.byKey[rev.a.Key] != nil {
			drop(fwd.a.Key, rev.a.Key)
			continue
		}
		conns, aerr := adopt(fwd.a)
		f := &tracked{first: now, state: statePending, reason: reasonFor(fwd.a.Key.Proto),
			cand: flow.Candidate{Key: fwd.a.Key, Conns: conns}, fwd: fwd.a, rev: rev.a, be: bi}
		f.fwd.Conns, f.rev.Conns = conns, reversed(conns)
		if aerr != nil || !m.bindLocked(f, [2]Counters{fwd.c, rev.c}) {
			drop(fwd.a.Key, rev.a.Key)
			continue
		}
		adopted++
	}
	m.flushRemovalsLocked()
	return adopted, removed, nil
}

// bindLocked files the adopted flow f (its connection in f.cand.Conns) as
// offloaded, with seen as its counters' baseline. It refuses a connection
// whose two entries are one, already belong to a flow, or are gone.
func (m *Manager) bindLocked(f *tracked, seen [2]Counters) bool {
	p := f.pair()
	h0, h1 := hkey{h: p.h[0], v6: p.v6}, hkey{h: p.h[1], v6: p.v6}
	if p.h[0] == p.h[1] || m.byHandle[h0] != nil || m.byHandle[h1] != nil || !m.markLocked(p, true) {
		return false
	}
	m.byHandle[h0], m.byHandle[h1] = f, f
	m.offloadLocked(f)
	f.seen = seen
	m.st.adopted.Add(1)
	return true
}

// reversed is conns as the reverse direction sees them.
func reversed(conns [2]flow.Conn) (r [2]flow.Conn) {
	for z, c := range conns {
		r[z] = flow.Conn{Handle: c.Handle, Dir: c.Dir ^ 1}
	}
	return r
}

// isForward tells whether a (rather than its reverse b) is the direction
// that opened the connection: the one whose stored Conns say DirOrig in
// the SNAT zone, or else the one arriving on the underlay.
func isForward(a, b [2]flow.Conn, ain, bin flow.Port) bool {
	if a[1].Handle != 0 || b[1].Handle != 0 {
		if a[1].Dir != b[1].Dir {
			return a[1].Dir == conntrack.DirOrig
		}
	}
	return ain == flow.Underlay && bin != flow.Underlay
}

// reasonFor is the promotion reason an adopted flow is filed under.
func reasonFor(proto uint8) why {
	switch proto {
	case packet.ProtoTCP:
		return whyTCP
	case packet.ProtoICMP, packet.ProtoICMPv6:
		return whyICMP
	}
	return whyUDPAnswered
}
