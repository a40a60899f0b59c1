package nat

import (
	"encoding/binary"
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// pseudo6 is the IPv6 pseudo-header (RFC 8200 §8.1) written out by hand,
// independent of package packet.
func pseudo6(src, dst []byte, proto uint8, l4len int) []byte {
	ph := make([]byte, 40)
	copy(ph, src)
	copy(ph[16:], dst)
	binary.BigEndian.PutUint32(ph[32:], uint32(l4len))
	ph[39] = proto
	return ph
}

// sums6 reports which checksums of a decoded IPv6 frame verify now: the
// L4 one (TCP, UDP, ICMPv6, over the pseudo-header) and, for an ICMPv6
// error with a whole quoted UDP datagram, the quoted one.
type sums6 struct{ l4, quoteL4 bool }

func verify6(frame []byte, p *packet.Parsed) sums6 {
	var s sums6
	if p.Frag {
		return s
	}
	ip := frame[p.L3Off:]
	l4 := frame[p.L4Off:p.End]
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMPv6:
		s.l4 = naiveSum(pseudo6(ip[8:24], ip[24:40], p.Proto, len(l4)), l4) == 0xffff
	}
	// A whole quoted UDP datagram, extension headers (if any) before it:
	// they lie between the quoted header and ql4 in the frame. quote6
	// refuses a routing header that would change the pseudo-header.
	if q, proto, ql4, ok := quote6(frame, p); ok && proto == packet.ProtoUDP &&
		int(binary.BigEndian.Uint16(ql4[4:])) == len(ql4) && int(q.PayloadLength()) == cap(q)-cap(ql4)-packet.IPv6Len+len(ql4) {
		s.quoteL4 = naiveSum(pseudo6(q[8:24], q[24:40], packet.ProtoUDP, len(ql4)), ql4) == 0xffff
	}
	return s
}

func kept6(t *testing.T, before, after sums6) {
	t.Helper()
	if before.l4 && !after.l4 {
		t.Error("L4 checksum broken")
	}
	if before.quoteL4 && !after.quoteL4 {
		t.Error("quoted UDP checksum broken")
	}
}

func fuzzSeeds6(f testing.TB) [][]byte {
	sent := datagram6(udp6Frame(f, snat6, 30000, peer6, 5201))
	sentTCP := datagram6(tcp6Frame(f, snat6, 30000, peer6, 5201))
	sentEcho := datagram6(echo6Frame(f, snat6, peer6, packet.ICMPv6EchoRequest, 9, 1))
	return [][]byte{
		udp6Frame(f, vm6, 5000, peer6, 5201),
		tcp6Frame(f, vm6, 5000, peer6, 5201),
		echo6Frame(f, vm6, peer6, packet.ICMPv6EchoRequest, 777, 1),
		icmp6ErrFrame(f, peer6, snat6, packet.ICMPv6DestUnreachable, 4, 0, sent),
		icmp6ErrFrame(f, router6, snat6, packet.ICMPv6PacketTooBig, 0, 1280, sentTCP[:48]),
		icmp6ErrFrame(f, router6, snat6, packet.ICMPv6TimeExceeded, 0, 0, sentEcho),
		// Quotes with extension headers (quote6 walks them).
		icmp6ErrFrame(f, peer6, snat6, packet.ICMPv6DestUnreachable, 4, 0, withExt6(sent, hbh6, dstOpts6)),
		icmp6ErrFrame(f, router6, snat6, packet.ICMPv6PacketTooBig, 0, 1280, withExt6(sentTCP, fragHdr6)[:40+8+8]),
		icmp6ErrFrame(f, router6, snat6, packet.ICMPv6TimeExceeded, 0, 0, withExt6(sentEcho, rtDone6)),
		icmp6ErrFrame(f, peer6, snat6, packet.ICMPv6DestUnreachable, 4, 0, withExt6(sent, rtLeft6)),
	}
}

// FuzzRewrite6 rewrites whatever decodes as IPv6: it must not panic, must
// keep p in step with the frame and keep the L4 checksum if it verified.
func FuzzRewrite6(f *testing.F) {
	for i, s := range fuzzSeeds6(f) {
		f.Add(s, snat6[:], peer6[:], uint16(30000+i), uint16(5201))
	}
	f.Fuzz(func(t *testing.T, frame, src, dst []byte, sport, dport uint16) {
		var p packet.Parsed
		r := p.DecodeDual(frame)
		if (r != packet.OK && r != packet.Fragment) || p.Family != 6 {
			return
		}
		var tgt conntrack.Tuple6
		copy(tgt.Src[:], src)
		copy(tgt.Dst[:], dst)
		tgt.SrcPort, tgt.DstPort = sport, dport
		before := verify6(frame, &p)
		Rewrite6(frame, &p, tgt)
		kept6(t, before, verify6(frame, &p))
		var fresh packet.Parsed
		if r2 := fresh.DecodeDual(frame); r2 != r || fresh != p {
			t.Fatalf("decode after rewrite: %v %+v, p says %v %+v", r2, fresh, r, p)
		}
		if p.Src6 != tgt.Src || p.Dst6 != tgt.Dst {
			t.Fatalf("addresses %v %v, want %v", p.Src6, p.Dst6, tgt)
		}
	})
}

// FuzzICMPError6 is FuzzICMPError for ICMPv6 errors: against a connection
// built to own the quote, RewriteICMPError6 accepts exactly what
// InnerTuple6 accepts, leaves the quote keyed as the target and keeps the
// checksums that verified; an unrelated connection is refused with no
// byte changed.
func FuzzICMPError6(f *testing.F) {
	for _, s := range fuzzSeeds6(f) {
		f.Add(s, vm6[:], uint16(5000), true)
	}
	f.Fuzz(func(t *testing.T, frame, natIP []byte, natPort uint16, reply bool) {
		var p packet.Parsed
		if r := p.DecodeDual(frame); (r != packet.OK && r != packet.Fragment) || p.Family != 6 {
			return
		}
		const zone = 16
		q, ok := InnerTuple6(frame, &p, zone)
		stranger := conntrack.Match6{Orig: q.Reverse()}
		stranger.Orig.Src[0] ^= 0x80
		stranger.Reply = stranger.Orig.Reverse()
		stranger.Reply.SrcPort ^= 1
		before := append([]byte(nil), frame...)
		if RewriteICMPError6(frame, &p, &stranger) || string(frame) != string(before) {
			t.Fatal("unrelated conn accepted or frame changed")
		}
		var nat packet.IP6
		copy(nat[:], natIP)
		var m conntrack.Match6
		if reply {
			m.Dir = conntrack.DirReply
			m.Reply = q.Reverse()
			m.Orig = q
			m.Orig.Src, m.Orig.SrcPort = nat, natPort
		} else {
			m.Dir = conntrack.DirOrig
			m.Orig = q.Reverse()
			m.Reply = q
			m.Reply.Dst, m.Reply.DstPort = nat, natPort
		}
		if q.Proto == packet.ProtoICMPv6 {
			if reply {
				m.Orig.DstPort = natPort
			} else {
				m.Reply.SrcPort = natPort
			}
		}
		sb := verify6(frame, &p)
		got := RewriteICMPError6(frame, &p, &m)
		if got != ok {
			t.Fatalf("RewriteICMPError6 = %v, InnerTuple6 ok = %v (match %+v)", got, ok, m)
		}
		if !ok {
			return
		}
		kept6(t, sb, verify6(frame, &p))
		tgt, _ := Target6(&m)
		if q2, ok2 := InnerTuple6(frame, &p, zone); !ok2 || q2 != tgt.Reverse() {
			t.Fatalf("quote now %v %v, want %v", q2, ok2, tgt.Reverse())
		}
		var fresh packet.Parsed
		fresh.DecodeDual(frame)
		if fresh != p {
			t.Fatalf("Parsed not kept in step: %+v vs %+v", fresh, p)
		}
	})
}
