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
// IPv6 entries (Backend6) are not adopted: they are all removed (counted
// in removed and AdoptFailed), so their connections go back to software,
// are committed afresh by their next packets and offloaded again.
func (m *Manager) Adopt(adopt AdoptFunc) (adopted, removed int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for bi := range m.bes {
		a, r, err := m.adoptLocked(bi, adopt)
		adopted, removed = adopted+a, removed+r
		if err != nil {
			return adopted, removed, err
		}
		r, err = m.dropAll6Locked(bi)
		removed += r
		if err != nil {
			return adopted, removed, err
		}
	}
	m.publishLocked()
	return adopted, removed, nil
}

// dropAll6Locked removes the IPv6 entries of backend bi that no flow of
// this manager owns.
func (m *Manager) dropAll6Locked(bi int) (removed int, err error) {
	b6 := m.bes6[bi]
	if b6 == nil {
		return 0, nil
	}
	err = b6.Iterate6(func(a *flow.Action6, _ Counters) bool {
		if m.byKey6[a.Key] == nil {
			m.toRemove6[bi] = append(m.toRemove6[bi], a.Key)
			removed++
		}
		return true
	})
	m.st.adoptFailed.Add(uint64(removed))
	m.flushRemovalsLocked()
	return removed, err
}

// adoptLocked adopts the entries of backend bi.
func (m *Manager) adoptLocked(bi int, adopt AdoptFunc) (adopted, removed int, err error) {
	type entry struct {
		a    flow.Action
		c    Counters
		used bool
	}
	var all []entry
	err = m.bes[bi].Iterate(func(a *flow.Action, c Counters) bool {
		all = append(all, entry{a: *a, c: c})
		return true
	})
	if err != nil {
		return 0, 0, err
	}
	// Index by the 5-tuple and the port a packet arrives on; VNI and inner
	// MAC are left out because a reverse key's cannot be derived from the
	// forward action (it is the join switch's, not the encap's).
	type tkey struct {
		in           flow.Port
		src, dst     [4]byte
		sport, dport uint16
		proto        uint8
	}
	byT := make(map[tkey][]int, len(all))
	for i := range all {
		k := &all[i].a.Key
		t := tkey{k.InPort, k.Src, k.Dst, k.SrcPort, k.DstPort, k.Proto}
		byT[t] = append(byT[t], i)
	}
	reverseOf := func(a *flow.Action) tkey {
		return tkey{a.OutPort, a.NATDst, a.NATSrc, a.NATDstPort, a.NATSrcPort, a.Key.Proto}
	}
	matches := func(a, b *flow.Action) bool {
		r := reverseOf(b)
		k := &a.Key
		return r == tkey{k.InPort, k.Src, k.Dst, k.SrcPort, k.DstPort, k.Proto}
	}
	now := m.cfg.Clock()
	drop := func(keys ...flow.Key) {
		m.toRemove[bi] = append(m.toRemove[bi], keys...)
		removed += len(keys)
		m.st.adoptFailed.Add(uint64(len(keys)))
	}
	for i := range all {
		a := &all[i]
		if a.used {
			continue
		}
		a.used = true
		var b *entry
		for _, j := range byT[reverseOf(&a.a)] {
			if c := &all[j]; !c.used && matches(&a.a, &c.a) {
				b = c
				break
			}
		}
		if b == nil {
			drop(a.a.Key)
			continue
		}
		b.used = true
		fwd, rev := a, b
		if isForward(&b.a, &a.a) {
			fwd, rev = b, a
		}
		if m.byKey[fwd.a.Key] != nil || m.byKey[rev.a.Key] != nil {
			drop(fwd.a.Key, rev.a.Key)
			continue
		}
		conns, aerr := adopt(fwd.a)
		p := pairOf(conns)
		h0, h1 := hkey{h: p.h[0]}, hkey{h: p.h[1]}
		if aerr != nil || p.h[0] == p.h[1] || m.byHandle[h0] != nil || m.byHandle[h1] != nil ||
			!m.markLocked(p, true) {
			drop(fwd.a.Key, rev.a.Key)
			continue
		}
		f := &tracked{first: now, state: statePending, reason: reasonFor(fwd.a.Key.Proto),
			cand: flow.Candidate{Key: fwd.a.Key, Conns: conns}, fwd: fwd.a, rev: rev.a, be: bi}
		f.fwd.Conns = conns
		for z, c := range conns {
			f.rev.Conns[z] = flow.Conn{Handle: c.Handle, Dir: c.Dir ^ 1}
		}
		m.byHandle[h0], m.byHandle[h1] = f, f
		m.offloadLocked(f)
		f.seen = [2]Counters{fwd.c, rev.c}
		adopted++
		m.st.adopted.Add(1)
	}
	m.flushRemovalsLocked()
	return adopted, removed, nil
}

// isForward tells whether a (rather than its reverse b) is the direction
// that opened the connection.
func isForward(a, b *flow.Action) bool {
	if a.Conns[1].Handle != 0 || b.Conns[1].Handle != 0 {
		if a.Conns[1].Dir != b.Conns[1].Dir {
			return a.Conns[1].Dir == conntrack.DirOrig
		}
	}
	return a.Key.InPort == flow.Underlay && b.Key.InPort != flow.Underlay
}

// reasonFor is the promotion reason an adopted flow is filed under.
func reasonFor(proto uint8) why {
	switch proto {
	case packet.ProtoTCP:
		return whyTCP
	case packet.ProtoICMP:
		return whyICMP
	}
	return whyUDPAnswered
}
