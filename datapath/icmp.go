package datapath

import (
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// ICMP the gateway router itself sends, as OVN's lr_in_ip_input does:
// echo replies to its own join-port addresses, and time exceeded for a
// packet whose TTL runs out at it. The message is built in the packet's
// own buffer, in place of the frame that caused it, and then leaves like
// any routed packet from the router (routerHop: back over the join switch
// and the distributed router to the chassis, or out of the external port),
// with TTL 255 before the hop, as OVN sets it. Neither is tracked or NATed:
// OVN generates them before its NAT stages.
//
// Generation is limited per source address (icmpLimiter); what the limit
// refuses is dropped and counted as icmp-rate-limited.

// icmpQuote is how much of the offending datagram a time exceeded carries
// beyond its IP header (RFC 792; RFC 1812 4.3.2.3 allows more, Linux
// quotes 8 too).
const icmpQuote = 8

// echoReply turns an echo request to one of the router's own addresses
// (frame = pkt.Frame(), decoded in c.parsed) into the reply and routes it
// back.
func (w *Worker) echoReply(c *pktCtx, frame []byte, r *route.Router) Drop {
	p := &c.parsed
	if !w.icmpAllowed(c, p.Src) {
		return DropICMPRateLimited
	}
	ip := p.IP(frame)
	src, dst := p.Src, p.Dst
	ip.SetSrc(dst)
	ip.SetDst(src)
	setTTL(ip, 255)
	icmp := packet.ICMPv4(frame[p.L4Off:p.End])
	icmp[0] = packet.ICMPEchoReply
	icmp.SetChecksum(packet.Update16(icmp.Checksum(), uint16(packet.ICMPEchoRequest)<<8, uint16(packet.ICMPEchoReply)<<8))
	c.pkt.Len = p.End // no link padding
	p.Src, p.Dst, p.TTL, p.ICMPType = dst, src, 255, packet.ICMPEchoReply
	return w.icmpOut(c, frame[:p.End], r)
}

// timeExceeded replaces the packet in frame (= pkt.Frame(), decoded in
// c.parsed), whose TTL ran out at router r, arriving through port in, by
// an ICMP time exceeded from in's address to its source.
func (w *Worker) timeExceeded(c *pktCtx, frame []byte, r *route.Router, in *route.RouterPort) Drop {
	return w.icmpError(c, frame, r, in, packet.ICMPTimeExceeded, 0, 0, DropTTL)
}

// fragNeeded replaces a packet that does not fit the next link's mtu and
// may not be fragmented (DF) by ICMP destination unreachable,
// fragmentation needed, with that MTU (RFC 1191), as OVN's gateway_mtu
// does.
func (w *Worker) fragNeeded(c *pktCtx, frame []byte, r *route.Router, in *route.RouterPort, mtu int) Drop {
	if !c.parsed.IP(frame).DontFragment() {
		return DropTooBig // xgw does not fragment (issue 10)
	}
	return w.icmpError(c, frame, r, in, packet.ICMPDestUnreachable, icmpCodeFragNeeded, uint16(mtu), DropTooBig)
}

// tooBig reports whether the decoded packet p is larger than what leaves
// through out can carry. Only then does fragNeeded look at DF.
func (w *Worker) tooBig(p *packet.Parsed, out flow.Port) bool {
	max := w.p.maxOut[out]
	return max > 0 && p.End-p.L3Off > max
}

// icmpCodeFragNeeded is destination unreachable's "fragmentation needed
// and DF set".
const icmpCodeFragNeeded = 4

// icmpError replaces the packet in frame (= pkt.Frame(), decoded in
// c.parsed) that router r cannot forward, which arrived through port in,
// by an ICMP error of type and code from in's address to its source,
// quoting its header and 8 bytes. mtu fills the next-hop MTU field of
// fragmentation needed. When no error may be sent, the packet is dropped
// as silent.
func (w *Worker) icmpError(c *pktCtx, frame []byte, r *route.Router, in *route.RouterPort, typ, code uint8, mtu uint16, silent Drop) Drop {
	p := &c.parsed
	if p.Proto == packet.ProtoICMP && !packet.IsEcho(p.ICMPType) || p.IP(frame).FragOffset() != 0 {
		return silent // never about an error, nor a later fragment (RFC 1812 4.3.2.7)
	}
	if !w.icmpAllowed(c, p.Src) {
		return DropICMPRateLimited
	}
	quote := min(p.End-p.L3Off, p.L4Off-p.L3Off+icmpQuote)
	n := packet.EthernetLen + packet.IPv4MinLen + packet.ICMPLen + quote
	pkt := c.pkt // frame is pkt.Frame()
	start := pkt.Off
	if start+n > len(pkt.Buf) || quote > len(w.quote) {
		return silent
	}
	q := w.quote[:quote]
	copy(q, frame[p.L3Off:])
	origSrc := p.Src
	out := pkt.Buf[start : start+n]
	ip := packet.IPv4(out[packet.EthernetLen:])
	ip.Encode(packet.IPv4Fields{TotalLen: uint16(n - packet.EthernetLen), TTL: 255,
		Protocol: packet.ProtoICMP, Src: in.IP, Dst: origSrc})
	icmp := packet.ICMPv4(out[packet.EthernetLen+packet.IPv4MinLen:])
	clear(icmp[:packet.ICMPLen])
	icmp[0], icmp[1] = typ, code
	icmp[6], icmp[7] = byte(mtu>>8), byte(mtu)
	copy(icmp[packet.ICMPLen:], q)
	icmp.SetChecksum(icmp.ComputeChecksum())
	packet.Ethernet(out).SetEtherType(packet.EtherTypeIPv4)
	pkt.Len = n
	if res := p.Decode(out); res != packet.OK {
		return DropMalformed
	}
	return w.icmpOut(c, out, r)
}

// icmpOut routes a message the router generated from its own address.
func (w *Worker) icmpOut(c *pktCtx, frame []byte, r *route.Router) Drop {
	hop, ok := r.Route(c.parsed.Dst)
	if !ok {
		return DropNoRoute
	}
	if why := w.routerHop(c, frame, hop); why != DropNone {
		return why
	}
	w.c.icmpOut++
	return DropNone
}

// setTTL writes ttl into ip with an incremental checksum update.
func setTTL(ip packet.IPv4, ttl uint8) {
	old := uint16(ip.TTL())<<8 | uint16(ip.Protocol())
	ip[8] = ttl
	ip.SetChecksum(packet.Update16(ip.Checksum(), old, uint16(ttl)<<8|uint16(ip.Protocol())))
}

// icmpAllowed takes a token from src's bucket under the plan's rate.
func (w *Worker) icmpAllowed(c *pktCtx, src packet.IP4) bool {
	t := c.pl.topo
	return w.icmpLimit.allow(src, c.now, t.ICMPRate, t.ICMPBurst)
}

// icmpLimiter is a token bucket per source address over a fixed table: a
// source shares its slot with whoever hashes there (the newcomer takes the
// slot over with a full bucket), so a flood from many sources is limited
// per slot rather than per address, and memory stays fixed. Per worker,
// so the gateway's rate is the configured one times its workers.
type icmpLimiter struct {
	slots [icmpLimitSlots]struct {
		src    packet.IP4
		tokens int64 // in 1/1e9 of a message
		last   int64 // ns
	}
}

const icmpLimitSlots = 1024

func (l *icmpLimiter) allow(src packet.IP4, now int64, rate, burst int) bool {
	if rate <= 0 {
		return false
	}
	const one = int64(1e9)
	s := &l.slots[(src.Uint32()*0x9e3779b1)>>22&(icmpLimitSlots-1)]
	full := int64(burst) * one
	if s.src != src || s.last == 0 {
		s.src, s.tokens, s.last = src, full, now
	}
	if el := now - s.last; el > 0 {
		if el >= (full-s.tokens)/int64(rate) {
			s.tokens = full
		} else {
			s.tokens += el * int64(rate)
		}
		s.last = now
	}
	if s.tokens < one {
		return false
	}
	s.tokens -= one
	return true
}
