package nat

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// NAT66 rewrites IPv6 packets as Rewrite does IPv4 ones. The bytes differ
// in three ways: the addresses are 16 bytes (their change enters the L4
// checksum through packet.Delta.AddUpdate128), there is no IP header
// checksum, and ICMPv6, unlike ICMP, has a pseudo-header, so translating
// an echo's addresses changes its checksum as it does TCP's and UDP's.

// Target6 is Target for an IPv6 connection.
func Target6(m *conntrack.Match6) (t conntrack.Tuple6, needed bool) {
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

// Rewrite6 is Rewrite for an IPv6 frame decoded by p.DecodeDual (OK or
// Fragment, Family 6): it sets the addresses and the TCP/UDP ports or
// ICMPv6 echo id to t's and patches the L4 checksum incrementally (the
// first fragment's too: the delta is the datagram's; a non-first fragment
// only gets its addresses). The L4 header is the one after the extension
// headers (p.L4Off). ICMPv6 other than echo (errors go through
// RewriteICMPError6) gets its addresses and, its checksum covering them,
// the checksum patch; other protocols only their addresses. It does
// nothing if p's offsets do not fit frame.
func Rewrite6(frame []byte, p *packet.Parsed, t conntrack.Tuple6) {
	if p.Family != 6 || p.L3Off < 0 || p.L3Off+packet.IPv6Len > p.L4Off || p.L4Off > p.End || p.End > len(frame) {
		return
	}
	ip := packet.IPv6(frame[p.L3Off:])
	var addr packet.Delta
	if old := ip.Src(); old != t.Src {
		addr = addr.AddUpdate128(old, t.Src)
		ip.SetSrc(t.Src)
	}
	if old := ip.Dst(); old != t.Dst {
		addr = addr.AddUpdate128(old, t.Dst)
		ip.SetDst(t.Dst)
	}
	p.Src6, p.Dst6 = t.Src, t.Dst
	if p.FragHdrOff != 0 && (p.FragHdrOff+packet.IPv6FragmentLen > len(frame) ||
		packet.IPv6Fragment(frame[p.FragHdrOff:]).FragOffset() != 0) {
		return
	}
	l4 := frame[p.L4Off:p.End]
	switch p.Proto {
	case packet.ProtoTCP:
		if len(l4) < packet.TCPMinLen {
			return
		}
		if d := setPorts(l4, p, t.SrcPort, t.DstPort, addr); d != 0 {
			tcp := packet.TCP(l4)
			tcp.SetChecksum(d.Apply(tcp.Checksum()))
		}
	case packet.ProtoUDP:
		if len(l4) < packet.UDPLen {
			return
		}
		if d := setPorts(l4, p, t.SrcPort, t.DstPort, addr); d != 0 {
			udp := packet.UDP(l4)
			udp.SetChecksum(d.ApplyUDP(udp.Checksum()))
		}
	case packet.ProtoICMPv6:
		// Every ICMPv6 checksum covers the pseudo-header: any message
		// gets the address change; only echo has an id to translate.
		if len(l4) < packet.ICMPv6Len {
			return
		}
		c := packet.ICMPv6(l4)
		d := addr
		if isEcho6(l4[0]) {
			if old := c.ID(); old != t.SrcPort {
				c.SetID(t.SrcPort)
				d = d.AddUpdate16(old, t.SrcPort)
			}
			p.SrcPort, p.DstPort = t.SrcPort, t.SrcPort
		}
		if d != 0 {
			c.SetChecksum(d.Apply(c.Checksum()))
		}
	}
}

func isEcho6(typ uint8) bool {
	return typ == packet.ICMPv6EchoRequest || typ == packet.ICMPv6EchoReply
}
