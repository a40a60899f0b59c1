package nat

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// quoteMinL4 is how much of the quoted datagram's payload an ICMP error
// must carry (RFC 792): enough for TCP/UDP ports and the ICMP echo id.
const quoteMinL4 = 8

// quote locates the datagram an ICMP error embeds. It returns the quoted
// IPv4 header and whatever of its payload was quoted, or ok=false when p is
// not an ICMP error or the quote is too short to be keyed.
func quote(frame []byte, p *packet.Parsed) (ip packet.IPv4, l4 []byte, ok bool) {
	if p.Proto != packet.ProtoICMP || !packet.IsError(p.ICMPType) {
		return nil, nil, false
	}
	if p.L3Off < 0 || p.L3Off+packet.IPv4MinLen > p.L4Off || p.L4Off+packet.ICMPLen > p.End || p.End > len(frame) {
		return nil, nil, false
	}
	if packet.IPv4(frame[p.L3Off:p.L4Off]).FragOffset() != 0 {
		return nil, nil, false
	}
	q := frame[p.L4Off+packet.ICMPLen : p.End]
	if len(q) < packet.IPv4MinLen {
		return nil, nil, false
	}
	ip = packet.IPv4(q)
	hl := ip.HeaderLen()
	if ip.Version() != 4 || hl < packet.IPv4MinLen || len(q) < hl+quoteMinL4 {
		return nil, nil, false
	}
	if ip.FragOffset() != 0 {
		return nil, nil, false // no L4 header quoted: cannot be keyed
	}
	l4 = q[hl:]
	if ip.Protocol() == packet.ProtoICMP && !packet.IsEcho(l4[0]) {
		return nil, nil, false // errors about errors are never sent (RFC 1122)
	}
	return ip[:hl], l4, true
}

// quotedTuple keys the quoted datagram as conntrack keys packets.
func quotedTuple(ip packet.IPv4, l4 []byte, zone uint16) conntrack.Tuple {
	t := conntrack.Tuple{Src: ip.Src(), Dst: ip.Dst(), Proto: ip.Protocol(), Zone: zone}
	switch t.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		t.SrcPort = binary.BigEndian.Uint16(l4[0:])
		t.DstPort = binary.BigEndian.Uint16(l4[2:])
	case packet.ProtoICMP:
		id := packet.ICMPv4(l4).ID()
		t.SrcPort, t.DstPort = id, id
	}
	return t
}

// InnerTuple returns the tuple, in zone, of the datagram quoted by the ICMP
// error p: the packet as it left through the gateway, so it travelled the
// opposite way from the error (for the seed, 123.123.123.123:P →
// 172.31.6.24:5201, a reversed reply tuple). It is what
// conntrack.LookupRelated matches. ok is false if p is not an ICMP error,
// the quote is truncated or malformed, is a non-first fragment, or is itself
// an ICMP error.
func InnerTuple(frame []byte, p *packet.Parsed, zone uint16) (conntrack.Tuple, bool) {
	ip, l4, ok := quote(frame, p)
	if !ok {
		return conntrack.Tuple{}, false
	}
	return quotedTuple(ip, l4, zone), true
}

// RewriteICMPError translates an ICMP error related to connection m, m.Dir
// being the direction the error travels. With natural the tuple the error's
// direction has without NAT and target the one it gets (Target), it:
//
//   - rewrites the outer source and destination where they hold the
//     connection's untranslated address (an error from a router on the
//     path keeps that router's address, as traceroute needs);
//   - rewrites the quoted datagram from natural reversed to target reversed:
//     addresses and header checksum, ports or echo id, and the quoted L4
//     checksum when it was quoted (UDP's always is, TCP's only with 18+
//     bytes of quote); a zero UDP checksum stays zero;
//   - patches the ICMP checksum for every quoted word it changed.
//
// All updates are incremental. A quote that is the other direction's
// untranslated tuple (an error raised before this NAT point) is already
// right and is left alone. It returns false, leaving the frame unchanged,
// when p is not a usable ICMP error or the quote does not belong to m; the
// caller drops the packet.
func RewriteICMPError(frame []byte, p *packet.Parsed, m *conntrack.Match) bool {
	ip, l4, ok := quote(frame, p)
	if !ok {
		return false
	}
	target, needed := Target(m)
	natural := m.Orig
	if m.Dir == conntrack.DirReply {
		natural = m.Reply
	}
	q := quotedTuple(ip, l4, natural.Zone)
	if q != natural.Reverse() {
		// A quote of the other direction's untranslated tuple was made
		// before this NAT point (conntrack.LookupRelated's fallback): the
		// error already speaks the sender's view. Anything else is not m's.
		other := m.Reply
		if m.Dir == conntrack.DirReply {
			other = m.Orig
		}
		return q == other
	}
	if !needed {
		return true
	}
	want := target.Reverse()

	// The quoted datagram. cs accumulates every change to the ICMP body.
	var addr, cs packet.Delta
	addr = setAddr(ip[12:16], want.Src, addr)
	addr = setAddr(ip[16:20], want.Dst, addr)
	cs = addOnes(cs, addr)
	if addr != 0 {
		cs = put16(ip[10:], addr.Apply(ip.Checksum()), cs)
	}
	switch q.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		var ports packet.Delta
		ports = put16(l4[0:], want.SrcPort, ports)
		ports = put16(l4[2:], want.DstPort, ports)
		cs = addOnes(cs, ports)
		l4d := addOnes(addr, ports)
		if q.Proto == packet.ProtoUDP {
			if l4d != 0 {
				cs = put16(l4[6:], l4d.ApplyUDP(binary.BigEndian.Uint16(l4[6:])), cs)
			}
		} else if len(l4) >= 18 && l4d != 0 {
			cs = put16(l4[16:], l4d.Apply(binary.BigEndian.Uint16(l4[16:])), cs)
		}
	case packet.ProtoICMP:
		var id packet.Delta
		id = put16(l4[4:], want.SrcPort, id)
		cs = addOnes(cs, id)
		if id != 0 {
			cs = put16(l4[2:], id.Apply(binary.BigEndian.Uint16(l4[2:])), cs)
		}
	}
	if cs != 0 {
		c := packet.ICMPv4(frame[p.L4Off:p.End])
		c.SetChecksum(cs.Apply(c.Checksum()))
	}

	// The outer header: only the side that carries the NATed address.
	outer := packet.IPv4(frame[p.L3Off:p.L4Off])
	var od packet.Delta
	if p.Src == natural.Src && natural.Src != target.Src {
		od = setAddr(outer[12:16], target.Src, od)
		p.Src = target.Src
	}
	if p.Dst == natural.Dst && natural.Dst != target.Dst {
		od = setAddr(outer[16:20], target.Dst, od)
		p.Dst = target.Dst
	}
	if od != 0 {
		outer.SetChecksum(od.Apply(outer.Checksum()))
	}
	return true
}

// put16 stores v at b and returns d with the change added.
func put16(b []byte, v uint16, d packet.Delta) packet.Delta {
	old := binary.BigEndian.Uint16(b)
	if old == v {
		return d
	}
	binary.BigEndian.PutUint16(b, v)
	return d.AddUpdate16(old, v)
}

// setAddr stores a at b and returns d with the change added.
func setAddr(b []byte, a packet.IP4, d packet.Delta) packet.Delta {
	d = put16(b[0:], uint16(a[0])<<8|uint16(a[1]), d)
	return put16(b[2:], uint16(a[2])<<8|uint16(a[3]), d)
}

// addOnes adds two deltas in one's-complement arithmetic.
func addOnes(a, b packet.Delta) packet.Delta {
	return packet.Delta(uint32(packet.Fold(uint32(a) + uint32(b))))
}
