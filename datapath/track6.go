package datapath

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

// tuple6 is the conntrack key of a decoded IPv6 packet in zone.
func tuple6(p *packet.Parsed, zone uint16) conntrack.Tuple6 {
	return conntrack.Tuple6{Src: p.Src6, Dst: p.Dst6, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto, Zone: zone}
}

// track6 is track for IPv6, in the pipeline's Table6: ct(zone=zone,nat)
// and, with ctCommit, a commit whose translation ch chooses (nil: none,
// the routed case). The connection's NAT66 is applied to the packet and
// the connection is recorded as the flow's in slot z (flow.ZoneDNAT or
// flow.ZoneSNAT), for the offload manager (a flow.Candidate6). A
// ctLookup miss is not a drop: found reports whether a connection was
// there (or was made).
func (w *Worker) track6(c *pktCtx, frame []byte, zone uint16, z int, act ctAction, ch conntrack.ReplyChooser6) (found bool, why Drop) {
	ct, p := w.p.ct6, &c.parsed
	m := c.fillMeta(frame)
	if p.Proto == packet.ProtoICMPv6 && packet.IsError6(p.ICMPType) {
		c.related = true
		return true, w.trackRelated6(c, frame, zone, m)
	}
	k := tuple6(p, zone)
	if c.planning {
		return w.trackPlan6(c, frame, k, z, act)
	}
	var match conntrack.Match6
	if ct.LookupInto(&k, m, c.now, &match) {
		c.hits++
	} else {
		if match.State&conntrack.Invalid != 0 {
			return false, DropCTInvalid
		}
		if act == ctLookup {
			return false, DropNone
		}
		var err error
		match, err = ct.Commit(k, m, c.now, ch)
		switch err {
		case nil:
		case conntrack.ErrFull:
			return false, DropCTFull
		case conntrack.ErrNoReply:
			return false, DropNATExhausted
		default:
			return false, DropCTInvalid
		}
	}
	if match.State&conntrack.Invalid != 0 {
		return true, DropCTInvalid
	}
	if t, need := nat.Target6(&match); need {
		nat.Rewrite6(frame, p, t)
		p.Src6, p.Dst6, p.SrcPort, p.DstPort = t.Src, t.Dst, t.SrcPort, t.DstPort
	}
	c.noteConn6(z, &match)
	if match.Mark&flow.MarkOffloadSeen != 0 && p.TCPFlags&(packet.TCPFlagFIN|packet.TCPFlagRST) != 0 && w.p.sink6 != nil {
		w.p.sink6.Withdraw6(match.Handle)
	}
	return true, DropNone
}

// trackPlan6 is trackPlan for IPv6 (PlanFlow6): the connection must exist
// and nothing about it changes (Peek); its NAT66 applies to the
// synthetic packet. A ctLookup miss is not a drop (found false).
func (w *Worker) trackPlan6(c *pktCtx, frame []byte, k conntrack.Tuple6, z int, act ctAction) (found bool, why Drop) {
	match, hit := w.p.ct6.Peek(k, c.now)
	if !hit {
		if act == ctLookup {
			return false, DropNone
		}
		return false, DropNoConn
	}
	p := &c.parsed
	if t, need := nat.Target6(&match); need {
		nat.Rewrite6(frame, p, t)
		p.Src6, p.Dst6, p.SrcPort, p.DstPort = t.Src, t.Dst, t.SrcPort, t.DstPort
	}
	c.noteConn6(z, &match)
	return true, DropNone
}

// trackRelated6 handles an ICMPv6 error: it belongs to the connection of
// the datagram it quotes and is translated on both the outer and the
// quoted headers.
func (w *Worker) trackRelated6(c *pktCtx, frame []byte, zone uint16, m *conntrack.Meta) Drop {
	p := &c.parsed
	inner, ok := nat.InnerTuple6(frame, p, zone)
	if !ok {
		return DropMalformed
	}
	match, hit := w.p.ct6.LookupRelated(inner, m, c.now)
	if !hit {
		return DropNoConn
	}
	if _, need := nat.Target6(&match); need {
		if !nat.RewriteICMPError6(frame, p, &match) {
			return DropMalformed
		}
		ip := packet.IPv6(frame[p.L3Off:])
		p.Src6, p.Dst6 = ip.Src(), ip.Dst()
	}
	return DropNone
}
