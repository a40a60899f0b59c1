package datapath

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

// tuple is the conntrack key of a decoded packet in zone.
func tuple(p *packet.Parsed, zone uint16) conntrack.Tuple {
	return conntrack.Tuple{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto, Zone: zone}
}

// fillMeta extracts what the conntrack state machines need, once per
// packet: NAT rewrites ports and addresses, never these fields. The window
// scale option is only parsed on SYNs, the only segments that carry it.
func (w *Worker) fillMeta(frame []byte, p *packet.Parsed) *conntrack.Meta {
	m := &w.meta
	if w.metaValid {
		return m
	}
	w.metaValid = true
	*m = conntrack.Meta{Len: uint16(p.End - p.L3Off), TCPFlags: p.TCPFlags, WScale: -1, ICMPType: p.ICMPType}
	if p.Proto == packet.ProtoTCP {
		seg := packet.TCP(p.L4(frame))
		m.Seq, m.Ack, m.Win = seg.Seq(), seg.Ack(), seg.Window()
		m.PayloadLen = uint16(len(seg) - seg.DataOffset())
		if p.TCPFlags&packet.TCPFlagSYN != 0 {
			if ws, ok := seg.WindowScale(); ok {
				m.WScale = int8(ws)
			}
		}
	}
	return m
}

// ctAction is how track treats a packet that starts a connection.
type ctAction uint8

const (
	ctLookup ctAction = iota // ct(zone=Z,nat): report the miss, commit nothing
	ctCommit                 // ct(commit,zone=Z,nat(...)): create the connection
)

// track runs ct(zone=zone,nat) on the packet and, with ctCommit, commits a
// new connection whose translation ch chooses (nil: none). It applies the
// connection's NAT to the packet. It returns the packet's ct_state and
// false when the packet was dropped.
func (w *Worker) track(pkt *Packet, frame []byte, p *packet.Parsed, zone uint16, slot int, act ctAction, ch conntrack.ReplyChooser, now int64) (conntrack.State, bool) {
	ct := w.p.ct
	m := w.fillMeta(frame, p)
	if p.Proto == packet.ProtoICMP && packet.IsError(p.ICMPType) {
		w.curRelated = true
		return w.trackRelated(pkt, frame, p, zone, m, now)
	}
	k := tuple(p, zone)
	if w.planning {
		return w.trackPlan(pkt, frame, p, k, slot, now)
	}
	var match conntrack.Match
	if ct.LookupInto(&k, m, now, &match) {
		w.curHits++
	} else {
		if match.State&conntrack.Invalid != 0 {
			w.drop(pkt, DropCTInvalid)
			return match.State, false
		}
		if act == ctLookup {
			return match.State, true
		}
		var err error
		match, err = ct.Commit(k, m, now, ch)
		switch err {
		case nil:
		case conntrack.ErrFull:
			w.drop(pkt, DropCTFull)
			return match.State, false
		case conntrack.ErrNoReply:
			w.drop(pkt, DropNATExhausted)
			return match.State, false
		default:
			w.drop(pkt, DropCTInvalid)
			return match.State, false
		}
	}
	if match.State&conntrack.Invalid != 0 {
		w.drop(pkt, DropCTInvalid)
		return match.State, false
	}
	if t, need := nat.Target(&match); need {
		nat.Rewrite(frame, p, t)
	}
	w.noteConn(slot, &match)
	if match.Mark&flow.MarkOffloadSeen != 0 && p.TCPFlags&(packet.TCPFlagFIN|packet.TCPFlagRST) != 0 && w.p.sink != nil {
		w.p.sink.Withdraw(match.Handle)
	}
	return match.State, true
}

// noteConn records the packet's connection in one zone, for the offload
// candidate built from this packet.
func (w *Worker) noteConn(slot int, m *conntrack.Match) {
	w.cur.Conns[slot] = flow.Conn{Handle: m.Handle, Dir: m.Dir}
	w.curZones |= 1 << slot
	if m.Mark&flow.MarkOffloadSeen == 0 {
		w.curUnseen = true
	}
}

// trackPlan is track for PlanFlow: the connection must exist and nothing
// about it changes (Peek); its NAT applies to the synthetic packet.
func (w *Worker) trackPlan(pkt *Packet, frame []byte, p *packet.Parsed, k conntrack.Tuple, slot int, now int64) (conntrack.State, bool) {
	match, hit := w.p.ct.Peek(k, now)
	if !hit {
		w.drop(pkt, DropNoConn)
		return match.State, false
	}
	if t, need := nat.Target(&match); need {
		nat.Rewrite(frame, p, t)
	}
	w.noteConn(slot, &match)
	return match.State, true
}

// trackRelated handles an ICMP error: it belongs to the connection of the
// datagram it quotes, and is translated on both the outer and the quoted
// headers.
func (w *Worker) trackRelated(pkt *Packet, frame []byte, p *packet.Parsed, zone uint16, m *conntrack.Meta, now int64) (conntrack.State, bool) {
	inner, ok := nat.InnerTuple(frame, p, zone)
	if !ok {
		w.drop(pkt, DropMalformed)
		return conntrack.Tracked | conntrack.Invalid, false
	}
	match, hit := w.p.ct.LookupRelated(inner, m, now)
	if !hit {
		w.drop(pkt, DropNoConn)
		return conntrack.Tracked | conntrack.Invalid, false
	}
	if _, need := nat.Target(&match); need {
		if !nat.RewriteICMPError(frame, p, &match) {
			w.drop(pkt, DropMalformed)
			return match.State, false
		}
		ip := p.IP(frame)
		p.Src, p.Dst = ip.Src(), ip.Dst()
	}
	return match.State, true
}
