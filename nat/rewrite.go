package nat

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// Target returns the tuple a packet of match m must carry once translated:
// a packet in the original direction takes the reverse of the reply tuple
// (what the peer answers to), a reply takes the reverse of the original
// (what the initiator sent). needed is false when the connection is not
// NATed, so the caller can skip the rewrite.
func Target(m *conntrack.Match) (t conntrack.Tuple, needed bool) {
	if m.State&(conntrack.SrcNAT|conntrack.DstNAT) == 0 && m.Reply == m.Orig.Reverse() {
		if m.Dir == conntrack.DirReply {
			return m.Reply, false
		}
		return m.Orig, false
	}
	if m.Dir == conntrack.DirReply {
		return m.Orig.Reverse(), true
	}
	return m.Reply.Reverse(), true
}

// Rewrite sets frame's addresses and ports (or ICMP echo id) to those of t
// and patches the IPv4 header checksum and the TCP, UDP or ICMP echo
// checksum incrementally, so the cost does not depend on the payload and a
// checksum that was wrong on arrival stays wrong (a NAT must not launder
// corruption). p is the frame's decode and is updated to match. A non-first
// fragment has no L4 header, so only its addresses change; the first
// fragment's L4 checksum is patched like any other, since the delta is the
// same for the whole datagram. ICMP other than echo (errors go through
// RewriteICMPError) has only its addresses changed. t.Proto and t.Zone are
// ignored. Rewrite trusts p to come from p.Decode(frame) returning OK or
// Fragment and does nothing if p's offsets do not fit frame.
func Rewrite(frame []byte, p *packet.Parsed, t conntrack.Tuple) {
	if p.L3Off < 0 || p.L3Off+packet.IPv4MinLen > p.L4Off || p.L4Off > p.End || p.End > len(frame) {
		return
	}
	ip := packet.IPv4(frame[p.L3Off:p.L4Off])
	// Old values come from the frame, not p, so the checksums stay right
	// even if a caller's p went stale.
	var addr packet.Delta
	if old := ip.Src(); old != t.Src {
		addr = addr.AddUpdate32(old, t.Src)
		copy(ip[12:16], t.Src[:])
	}
	if old := ip.Dst(); old != t.Dst {
		addr = addr.AddUpdate32(old, t.Dst)
		copy(ip[16:20], t.Dst[:])
	}
	p.Src, p.Dst = t.Src, t.Dst
	if addr != 0 {
		ip.SetChecksum(addr.Apply(ip.Checksum()))
	}
	if ip.FragOffset() != 0 {
		return
	}
	l4 := frame[p.L4Off:p.End]
	switch p.Proto {
	case packet.ProtoTCP:
		if len(l4) < packet.TCPMinLen {
			return
		}
		d := setPorts(l4, p, t.SrcPort, t.DstPort, addr)
		if d != 0 {
			tcp := packet.TCP(l4)
			tcp.SetChecksum(d.Apply(tcp.Checksum()))
		}
	case packet.ProtoUDP:
		if len(l4) < packet.UDPLen {
			return
		}
		d := setPorts(l4, p, t.SrcPort, t.DstPort, addr)
		if d != 0 {
			udp := packet.UDP(l4)
			udp.SetChecksum(d.ApplyUDP(udp.Checksum()))
		}
	case packet.ProtoICMP:
		// The ICMP checksum has no pseudo-header: only the id matters.
		if len(l4) < packet.ICMPLen || !packet.IsEcho(l4[0]) {
			return
		}
		c := packet.ICMPv4(l4)
		if old := c.ID(); old != t.SrcPort {
			c.SetID(t.SrcPort)
			c.SetChecksum(packet.Delta(0).AddUpdate16(old, t.SrcPort).Apply(c.Checksum()))
		}
		p.SrcPort, p.DstPort = t.SrcPort, t.SrcPort
	}
}

// setPorts writes the ports sport and dport into a TCP or UDP header and
// returns the L4 checksum delta: the pseudo-header's address change d plus
// the ports'. Both families use it.
func setPorts(l4 []byte, p *packet.Parsed, sport, dport uint16, d packet.Delta) packet.Delta {
	if old := binary.BigEndian.Uint16(l4[0:]); old != sport {
		d = d.AddUpdate16(old, sport)
		binary.BigEndian.PutUint16(l4[0:], sport)
	}
	if old := binary.BigEndian.Uint16(l4[2:]); old != dport {
		d = d.AddUpdate16(old, dport)
		binary.BigEndian.PutUint16(l4[2:], dport)
	}
	p.SrcPort, p.DstPort = sport, dport
	return d
}
