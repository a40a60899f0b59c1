package datapath

import (
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
// c.parsed), whose
// TTL ran out at router r, arriving through port in, by an ICMP time
// exceeded from in's address to its source.
func (w *Worker) timeExceeded(c *pktCtx, frame []byte, r *route.Router, in *route.RouterPort) Drop {
	p := &c.parsed
	if p.Proto == packet.ProtoICMP && !packet.IsEcho(p.ICMPType) {
		return DropTTL // never an error about an error (RFC 1122 3.2.2)
	}
	if !w.icmpAllowed(c, p.Src) {
		return DropICMPRateLimited
	}
	quote := min(p.End-p.L3Off, p.L4Off-p.L3Off+icmpQuote)
	n := packet.EthernetLen + packet.IPv4MinLen + packet.ICMPLen + quote
	pkt := c.pkt // frame is pkt.Frame()
	start := pkt.Off
	if start+n > len(pkt.Buf) || quote > len(w.quote) {
		return DropTTL
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
	icmp[0] = packet.ICMPTimeExceeded
	copy(icmp[packet.ICMPLen:], q)
	icmp.SetChecksum(icmp.ComputeChecksum())
	packet.Ethernet(out).SetEtherType(packet.EtherTypeIPv4)
	pkt.Len += n - len(frame)
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
