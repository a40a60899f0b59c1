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
func (c *pktCtx) fillMeta(frame []byte) *conntrack.Meta {
	m, p := &c.meta, &c.parsed
	if c.metaValid {
		return m
	}
	c.metaValid = true
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

// track runs ct(zone=zone,nat) on the packet in frame (c.parsed) and, with
// ctCommit, commits a new connection whose translation ch chooses (nil:
// none). It applies the connection's NAT to the packet and records the
// connection as the flow's in slot z (flow.ZoneDNAT or flow.ZoneSNAT). A
// ctLookup miss is not a drop: c.zones lacks z. It returns why the packet
// must be dropped, or DropNone.
func (w *Worker) track(c *pktCtx, frame []byte, zone uint16, z int, act ctAction, ch conntrack.ReplyChooser) Drop {
	ct, p := w.p.ct, &c.parsed
	m := c.fillMeta(frame)
	if p.Proto == packet.ProtoICMP && packet.IsError(p.ICMPType) {
		c.related = true
		return w.trackRelated(c, frame, zone, m)
	}
	k := tuple(p, zone)
	if c.planning {
		return w.trackPlan(c, frame, k, z, act)
	}
	var match conntrack.Match
	if ct.LookupInto(&k, m, c.now, &match) {
		c.hits++
	} else {
		if match.State&conntrack.Invalid != 0 {
			return DropCTInvalid
		}
		if act == ctLookup {
			return DropNone
		}
		var err error
		match, err = ct.Commit(k, m, c.now, ch)
		switch err {
		case nil:
		case conntrack.ErrFull:
			return DropCTFull
		case conntrack.ErrNoReply:
			return DropNATExhausted
		default:
			return DropCTInvalid
		}
	}
	if match.State&conntrack.Invalid != 0 {
		return DropCTInvalid
	}
	if t, need := nat.Target(&match); need {
		nat.Rewrite(frame, p, t)
		if c.frag == fragLater {
			// Only the IP header changed; the ports are the
			// translated ones, as for the first fragment (encap's
			// entropy hashes them).
			p.SrcPort, p.DstPort = t.SrcPort, t.DstPort
		}
	}
	c.noteConn(z, &match)
	if match.Mark&flow.MarkOffloadSeen != 0 && p.TCPFlags&(packet.TCPFlagFIN|packet.TCPFlagRST) != 0 && w.p.sink != nil {
		w.p.sink.Withdraw(match.Handle)
	}
	return DropNone
}

// trackPlan is track for PlanFlow: the connection must exist and nothing
// about it changes (Peek); its NAT applies to the synthetic packet. A
// ctLookup miss is no drop, as in track (a hairpin's first un-SNAT).
func (w *Worker) trackPlan(c *pktCtx, frame []byte, k conntrack.Tuple, z int, act ctAction) Drop {
	match, hit := w.p.ct.Peek(k, c.now)
	if !hit {
		if act == ctLookup {
			return DropNone
		}
		return DropNoConn
	}
	if t, need := nat.Target(&match); need {
		nat.Rewrite(frame, &c.parsed, t)
	}
	c.noteConn(z, &match)
	return DropNone
}

// trackRelated handles an ICMP error: it belongs to the connection of the
// datagram it quotes, and is translated on both the outer and the quoted
// headers.
func (w *Worker) trackRelated(c *pktCtx, frame []byte, zone uint16, m *conntrack.Meta) Drop {
	p := &c.parsed
	inner, ok := nat.InnerTuple(frame, p, zone)
	if !ok {
		return DropMalformed
	}
	match, hit := w.p.ct.LookupRelated(inner, m, c.now)
	if !hit {
		return DropNoConn
	}
	if _, need := nat.Target(&match); need {
		if !nat.RewriteICMPError(frame, p, &match) {
			return DropMalformed
		}
		ip := p.IP(frame)
		p.Src, p.Dst = ip.Src(), ip.Dst()
	}
	return DropNone
}
