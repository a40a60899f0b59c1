package offload

import "github.com/xgw-dev/xgw/flow"

// adoptLocked6 adopts the IPv6 entries of backend bi as adoptLocked does
// the IPv4 ones, with adopt6 committing in Table6. Without adopt6 or
// IPv6 wiring (SetIPv6), every IPv6 entry no flow owns is removed.
func (m *Manager) adoptLocked6(bi int, adopt6 AdoptFunc6) (adopted, removed int, err error) {
	b6 := m.bes6[bi]
	if b6 == nil {
		return 0, 0, nil
	}
	type entry struct {
		a flow.Action6
		c Counters
	}
	var all []entry
	err = b6.Iterate6(func(a *flow.Action6, c Counters) bool {
		all = append(all, entry{a: *a, c: c})
		return true
	})
	if err != nil {
		return 0, 0, err
	}
	drop := func(keys ...flow.Key6) {
		for _, k := range keys {
			if m.byKey6[k] == nil {
				m.toRemove6[bi] = append(m.toRemove6[bi], k)
				removed++
				m.st.adoptFailed.Add(1)
			}
		}
	}
	if adopt6 == nil || m.ct6 == nil {
		for i := range all {
			drop(all[i].a.Key)
		}
		m.flushRemovalsLocked()
		return 0, removed, nil
	}
	// As for IPv4: the 5-tuple and the arriving port, without VNI and
	// inner MAC.
	type tkey struct {
		in           flow.Port
		src, dst     [16]byte
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
	for _, i := range single {
		drop(all[i].a.Key)
	}
	for _, ij := range pairs {
		fwd, rev := &all[ij[0]], &all[ij[1]]
		if !isForward(fwd.a.Conns, rev.a.Conns, fwd.a.Key.InPort, rev.a.Key.InPort) {
			fwd, rev = rev, fwd
		}
		if m.byKey6[fwd.a.Key] != nil || m.byKey6[rev.a.Key] != nil {
			drop(fwd.a.Key, rev.a.Key)
			continue
		}
		conns, aerr := adopt6(fwd.a)
		f := &tracked{first: now, state: statePending, reason: reasonFor(fwd.a.Key.Proto),
			cand: flow.Candidate{Conns: conns}, be: bi,
			v6: &flow6{key: fwd.a.Key, fwd: fwd.a, rev: rev.a}}
		f.v6.fwd.Conns, f.v6.rev.Conns = conns, reversed(conns)
		if aerr != nil || !m.bindLocked(f, [2]Counters{fwd.c, rev.c}) {
			drop(fwd.a.Key, rev.a.Key)
			continue
		}
		adopted++
	}
	m.flushRemovalsLocked()
	return adopted, removed, nil
}
