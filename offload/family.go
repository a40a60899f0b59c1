package offload

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// The manager holds IPv4 and IPv6 connections under one policy. They
// differ in their conntrack table (conntrack.Table or Table6, whose
// handles overlap), their planner (PlanFlow or PlanFlow6) and their
// fast-path entries (flow.Action or Action6, in Backend or Backend6);
// everything else (pending set, schedule, policy, counters) is shared.
// A tracked flow's family is its v6 field; its handles are keyed with
// the family (pair, hkey) so that the two tables never meet.

// Planner6 is Planner for IPv6 connections: *datapath.Pipeline
// implements it (PlanFlow6).
type Planner6 interface {
	PlanFlow6(c flow.Candidate6) (fwd, rev flow.Action6, err error)
}

// SetIPv6 lets the manager take IPv6 connections from ct6 (the
// pipeline's Table6), planned by pl; they go to the backends that
// implement Backend6. Without it, IPv6 candidates are ignored (and
// reported again). Call it before the pipeline runs.
func (m *Manager) SetIPv6(ct6 *conntrack.Table6, pl Planner6) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ct6, m.pl6 = ct6, pl
}

// flow6 is what an IPv6 tracked flow holds beside tracked.cand.Conns:
// the candidate's key and its planned actions.
type flow6 struct {
	key      flow.Key6
	fwd, rev flow.Action6
}

// pair names a connection by its two zone entries (DNAT zone, SNAT zone)
// in its family's table.
type pair struct {
	h  [2]conntrack.Handle
	v6 bool
}

func pairOf(c [2]flow.Conn) pair { return pair{h: [2]conntrack.Handle{c[0].Handle, c[1].Handle}} }
func pairOf6(c [2]flow.Conn) pair {
	return pair{h: [2]conntrack.Handle{c[0].Handle, c[1].Handle}, v6: true}
}

// pair is f's connection.
func (f *tracked) pair() pair {
	p := pairOf(f.cand.Conns)
	p.v6 = f.v6 != nil
	return p
}

// proto is f's L4 protocol.
func (f *tracked) proto() uint8 {
	if f.v6 != nil {
		return f.v6.key.Proto
	}
	return f.cand.Key.Proto
}

// hkey is one zone entry of either family.
type hkey struct {
	h  conntrack.Handle
	v6 bool
}

// connView is what the manager reads of a connection of either family.
type connView struct {
	State    conntrack.State
	TCP      conntrack.TCPState
	Proto    uint8
	ICMPType uint8
	Packets  [2]uint64
	LastSeen int64
	Expires  int64
	Mark     uint32
}

// conn reads the connection h of family v6.
func (m *Manager) conn(h conntrack.Handle, v6 bool) (connView, bool) {
	if v6 {
		if m.ct6 == nil {
			return connView{}, false
		}
		ci, ok := m.ct6.Get(h)
		return connView{State: ci.State, TCP: ci.TCP, Proto: ci.Orig.Proto, ICMPType: ci.ICMPType, Packets: ci.Packets,
			LastSeen: ci.LastSeen, Expires: ci.Expires, Mark: ci.Mark}, ok
	}
	ci, ok := m.ct.Get(h)
	return connView{State: ci.State, TCP: ci.TCP, Proto: ci.Orig.Proto, ICMPType: ci.ICMPType, Packets: ci.Packets,
		LastSeen: ci.LastSeen, Expires: ci.Expires, Mark: ci.Mark}, ok
}

func (m *Manager) setMark(h conntrack.Handle, v6 bool, mark uint32) {
	if v6 {
		m.ct6.SetMark(h, mark)
		return
	}
	m.ct.SetMark(h, mark)
}

func (m *Manager) setLiberal(h conntrack.Handle, v6 bool) {
	if v6 {
		m.ct6.SetLiberal(h)
		return
	}
	m.ct.SetLiberal(h)
}

func (m *Manager) touch(c flow.Conn, v6 bool, packets, bytes uint64, last int64) {
	if v6 {
		m.ct6.Touch(c.Handle, c.Dir, packets, bytes, last)
		return
	}
	m.ct.Touch(c.Handle, c.Dir, packets, bytes, last)
}

// echoRequest is the ICMP echo request type of proto's family.
func echoRequest(proto uint8) uint8 {
	if proto == packet.ProtoICMPv6 {
		return packet.ICMPv6EchoRequest
	}
	return packet.ICMPEchoRequest
}

// dirConns are the connections of f's direction d (0 fwd, 1 rev) as its
// planned action records them.
func (f *tracked) dirConns(d int) [2]flow.Conn {
	switch {
	case f.v6 != nil && d == 0:
		return f.v6.fwd.Conns
	case f.v6 != nil:
		return f.v6.rev.Conns
	case d == 0:
		return f.fwd.Conns
	}
	return f.rev.Conns
}

// backends6 are the backends' IPv6 halves, nil where a backend has none.
func backends6(bes []Backend) []Backend6 {
	b6 := make([]Backend6, len(bes))
	for i, b := range bes {
		b6[i], _ = b.(Backend6)
	}
	return b6
}

// onLocked6 tells whether IPv6 promotion is on: the policy is, IPv6 is
// wired (SetIPv6) and some backend holds IPv6 flows.
func (m *Manager) onLocked6() bool {
	if !m.onLocked() || m.ct6 == nil || m.pl6 == nil {
		return false
	}
	for _, b := range m.bes6 {
		if b != nil {
			return true
		}
	}
	return false
}
