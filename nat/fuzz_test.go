package nat

import (
	"encoding/binary"
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// sums reports which checksums of a decoded frame verify now, so a fuzz
// target can demand that a rewrite keeps every one that did.
type sums struct{ ip, l4, udpNone, quoteIP bool }

func verify(frame []byte, p *packet.Parsed) sums {
	var s sums
	ip := frame[p.L3Off:p.L4Off]
	s.ip = naiveSum(ip) == 0xffff
	if p.Frag { // L4 checksum spans fragments we do not have
		return s
	}
	l4 := frame[p.L4Off:p.End]
	switch p.Proto {
	case packet.ProtoTCP:
		s.l4 = naiveSum(pseudo(ip, len(l4)), l4) == 0xffff
	case packet.ProtoUDP:
		s.udpNone = binary.BigEndian.Uint16(l4[6:]) == 0
		s.l4 = !s.udpNone && naiveSum(pseudo(ip, len(l4)), l4) == 0xffff
	case packet.ProtoICMP:
		s.l4 = naiveSum(l4) == 0xffff
		if q, _, ok := quote(frame, p); ok {
			s.quoteIP = naiveSum(q) == 0xffff
		}
	}
	return s
}

func kept(t *testing.T, before, after sums) {
	t.Helper()
	if before.ip && !after.ip {
		t.Error("IPv4 header checksum broken")
	}
	if before.l4 && !after.l4 {
		t.Error("L4 checksum broken")
	}
	if before.udpNone != after.udpNone {
		t.Error("UDP zero checksum not kept zero")
	}
	if before.quoteIP && !after.quoteIP {
		t.Error("quoted IPv4 header checksum broken")
	}
}

func fuzzSeeds(f testing.TB) [][]byte {
	payload := []byte("fuzz seed payload")
	udp := udpFrame(f, vmIP, 5000, peerIP, 5201, payload)
	sent := datagram(udpFrame(f, snatIP, 5000, peerIP, 5201, payload))
	sentTCP := datagram(tcpFrame(f, snatIP, 61000, peerIP, 5201, nil))
	sentEcho := datagram(echoFrame(f, snatIP, peerIP, packet.ICMPEchoRequest, 9, 1))
	frag := append([]byte(nil), udp...)
	setFrag(frag, 0x0010)
	return [][]byte{
		udp,
		tcpFrame(f, vmIP, 5000, peerIP, 5201, payload),
		echoFrame(f, vmIP, peerIP, packet.ICMPEchoRequest, 777, 1),
		frag,
		icmpErrFrame(f, peerIP, snatIP, packet.ICMPDestUnreachable, 3, sent),
		icmpErrFrame(f, routerIP, snatIP, packet.ICMPTimeExceeded, 0, sentTCP[:28]),
		icmpErrFrame(f, routerIP, snatIP, packet.ICMPTimeExceeded, 0, sentEcho),
	}
}

// FuzzRewrite rewrites whatever decodes: it must not panic, must keep p in
// step with the frame, and must keep every checksum that verified.
func FuzzRewrite(f *testing.F) {
	for i, s := range fuzzSeeds(f) {
		f.Add(s, snatIP.Uint32(), peerIP.Uint32(), uint16(61000+i), uint16(5201))
	}
	f.Fuzz(func(t *testing.T, frame []byte, src, dst uint32, sport, dport uint16) {
		var p packet.Parsed
		r := p.Decode(frame)
		if r != packet.OK && r != packet.Fragment {
			return
		}
		before := verify(frame, &p)
		tgt := conntrack.Tuple{Src: packet.IP4FromUint32(src), Dst: packet.IP4FromUint32(dst), SrcPort: sport, DstPort: dport}
		Rewrite(frame, &p, tgt)
		kept(t, before, verify(frame, &p))
		var fresh packet.Parsed
		if r2 := fresh.Decode(frame); r2 != r || fresh != p {
			t.Fatalf("decode after rewrite: %v %+v, p says %v %+v", r2, fresh, r, p)
		}
		if p.Src != tgt.Src || p.Dst != tgt.Dst {
			t.Fatalf("addresses %v %v, want %v", p.Src, p.Dst, tgt)
		}
	})
}

// FuzzICMPError translates whatever decodes as an ICMP error, against a
// conn built to own its quote: it must not panic, must accept exactly what
// InnerTuple accepts, must leave the quote keyed as the target and keep
// every checksum that verified. An unrelated conn must be refused without
// a byte changed.
func FuzzICMPError(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, vmIP.Uint32(), uint16(5000), true)
	}
	f.Fuzz(func(t *testing.T, frame []byte, natIP uint32, natPort uint16, reply bool) {
		var p packet.Parsed
		if r := p.Decode(frame); r != packet.OK && r != packet.Fragment {
			return
		}
		const zone = 16
		q, ok := InnerTuple(frame, &p, zone)
		// A conn whose untranslated side differs from the quote's by one bit.
		stranger := conntrack.Match{Orig: q.Reverse()}
		stranger.Orig.Src[0] ^= 0x80
		stranger.Reply = stranger.Orig.Reverse()
		stranger.Reply.SrcPort ^= 1 // NATed, and still a bit away from q
		before := append([]byte(nil), frame...)
		if RewriteICMPError(frame, &p, &stranger) || string(frame) != string(before) {
			t.Fatal("unrelated conn accepted or frame changed")
		}
		// A conn whose untranslated side is the quote, translated to natIP:natPort.
		var m conntrack.Match
		nat := packet.IP4FromUint32(natIP)
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
		if q.Proto == packet.ProtoICMP {
			m.Orig.DstPort, m.Reply.SrcPort = m.Orig.SrcPort, m.Reply.DstPort
			if !reply {
				m.Reply.SrcPort = natPort
			} else {
				m.Orig.DstPort = natPort
			}
		}
		if q.Proto != packet.ProtoTCP && q.Proto != packet.ProtoUDP && q.Proto != packet.ProtoICMP {
			// No ports in the key: only the address can be translated.
			m.Orig.SrcPort, m.Orig.DstPort, m.Reply.SrcPort, m.Reply.DstPort = 0, 0, 0, 0
		}
		sb := verify(frame, &p)
		got := RewriteICMPError(frame, &p, &m)
		if got != ok {
			t.Fatalf("RewriteICMPError = %v, InnerTuple ok = %v (match %+v)", got, ok, m)
		}
		if !ok {
			return
		}
		kept(t, sb, verify(frame, &p))
		tgt, _ := Target(&m)
		if q2, ok2 := InnerTuple(frame, &p, zone); !ok2 || q2 != tgt.Reverse() {
			t.Fatalf("quote now %v %v, want %v", q2, ok2, tgt.Reverse())
		}
		var fresh packet.Parsed
		fresh.Decode(frame)
		if fresh != p {
			t.Fatalf("Parsed not kept in step: %+v vs %+v", fresh, p)
		}
	})
}
