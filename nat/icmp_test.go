package nat

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// datagram is the IP datagram of frame, Ethernet header and padding cut.
func datagram(frame []byte) []byte {
	return frame[14 : 14+int(binary.BigEndian.Uint16(frame[16:]))]
}

// quotedAt returns the IP datagram quoted in an ICMP error frame
// (option-less outer header).
func quotedAt(frame []byte) []byte { return datagram(frame)[20+8:] }

// The seed: 172.31.6.24 says port unreachable to 123.123.123.123 about
// (123.123.123.123:P -> 172.31.6.24:5201); the VM must get it as about
// (10.199.100.10:5000 -> 172.31.6.24:5201). The whole datagram is quoted,
// so the quoted UDP checksum can be verified end to end.
func TestICMPErrorPortUnreachableUDP(t *testing.T) {
	for _, busy := range []bool{false, true} {
		var taken conntrack.Taken = noneTaken
		if busy {
			taken = &oneTaken{tuple(peerIP, 5201, snatIP, 5000, packet.ProtoUDP, snatZone)}
		}
		m := seedConn(t, packet.ProtoUDP, 5000, 5201, taken)
		port := m.Reply.DstPort
		sent := datagram(udpFrame(t, snatIP, port, peerIP, 5201, []byte("dperf 0123456789")))
		frame := icmpErrFrame(t, peerIP, snatIP, packet.ICMPDestUnreachable, 3, sent)
		p := decode(t, frame)

		inner, ok := InnerTuple(frame, p, snatZone)
		if want := tuple(snatIP, port, peerIP, 5201, packet.ProtoUDP, snatZone); !ok || inner != want {
			t.Fatalf("InnerTuple = %v %v, want %v", inner, ok, want)
		}
		if inner.Reverse() != m.Reply {
			t.Fatal("quoted tuple is not the reversed reply tuple")
		}
		if !RewriteICMPError(frame, p, dir(m, conntrack.DirReply)) {
			t.Fatal("RewriteICMPError refused")
		}
		checkFrame(t, frame)
		assertParsed(t, frame, p)
		if p.Src != peerIP || p.Dst != vmIP {
			t.Errorf("outer %v -> %v", p.Src, p.Dst)
		}
		want := datagram(udpFrame(t, vmIP, 5000, peerIP, 5201, []byte("dperf 0123456789")))
		if got := quotedAt(frame); !bytes.Equal(got, want) {
			t.Errorf("quote\n got %x\nwant %x", got, want)
		}
	}
}

// A router on the path says time exceeded about a TCP segment, quoting only
// 8 bytes (no TCP checksum): the router's own address must survive.
func TestICMPErrorTimeExceededTCPShortQuote(t *testing.T) {
	m := seedConn(t, packet.ProtoTCP, 5000, 5201,
		&oneTaken{tuple(peerIP, 5201, snatIP, 5000, packet.ProtoTCP, snatZone)})
	port := m.Reply.DstPort
	sent := datagram(tcpFrame(t, snatIP, port, peerIP, 5201, []byte("x")))[:20+8]
	frame := icmpErrFrame(t, routerIP, snatIP, packet.ICMPTimeExceeded, 0, sent)
	p := decode(t, frame)
	if !RewriteICMPError(frame, p, dir(m, conntrack.DirReply)) {
		t.Fatal("refused")
	}
	checkFrame(t, frame)
	if p.Src != routerIP || p.Dst != vmIP {
		t.Errorf("outer %v -> %v", p.Src, p.Dst)
	}
	q := quotedAt(frame)
	if len(q) != 28 {
		t.Fatalf("quote grew or shrank to %d", len(q))
	}
	want := datagram(tcpFrame(t, vmIP, 5000, peerIP, 5201, []byte("x")))[:28]
	if !bytes.Equal(q, want) {
		t.Errorf("quote\n got %x\nwant %x", q, want)
	}
}

// With 20 bytes of TCP quoted the quoted TCP checksum is patched too.
func TestICMPErrorTCPFullHeaderQuoted(t *testing.T) {
	m := seedConn(t, packet.ProtoTCP, 5000, 5201,
		&oneTaken{tuple(peerIP, 5201, snatIP, 5000, packet.ProtoTCP, snatZone)})
	sentFull := datagram(tcpFrame(t, snatIP, m.Reply.DstPort, peerIP, 5201, nil))
	frame := icmpErrFrame(t, routerIP, snatIP, packet.ICMPDestUnreachable, 4, sentFull)
	p := decode(t, frame)
	if !RewriteICMPError(frame, p, dir(m, conntrack.DirReply)) {
		t.Fatal("refused")
	}
	checkFrame(t, frame)
	want := datagram(tcpFrame(t, vmIP, 5000, peerIP, 5201, nil))
	if got := quotedAt(frame); !bytes.Equal(got, want) {
		t.Errorf("quote\n got %x\nwant %x", got, want)
	}
}

// Time exceeded about a translated ping: the quoted echo id goes back.
func TestICMPErrorAboutEcho(t *testing.T) {
	m := seedConn(t, packet.ProtoICMP, 777, 777,
		&oneTaken{tuple(peerIP, 777, snatIP, 777, packet.ProtoICMP, snatZone)})
	id := m.Reply.DstPort
	sent := datagram(echoFrame(t, snatIP, peerIP, packet.ICMPEchoRequest, id, 3))
	frame := icmpErrFrame(t, routerIP, snatIP, packet.ICMPTimeExceeded, 0, sent)
	p := decode(t, frame)
	if inner, ok := InnerTuple(frame, p, snatZone); !ok || inner != m.Reply.Reverse() {
		t.Fatalf("InnerTuple %v %v", inner, ok)
	}
	if !RewriteICMPError(frame, p, dir(m, conntrack.DirReply)) {
		t.Fatal("refused")
	}
	checkFrame(t, frame)
	want := datagram(echoFrame(t, vmIP, peerIP, packet.ICMPEchoRequest, 777, 3))
	if got := quotedAt(frame); !bytes.Equal(got, want) {
		t.Errorf("quote\n got %x\nwant %x", got, want)
	}
}

// The VM rejects a reply: the error travels the original direction and
// leaves with the SNAT address, quoting the reply as the peer sent it.
func TestICMPErrorOriginalDirection(t *testing.T) {
	m := seedConn(t, packet.ProtoUDP, 5000, 5201,
		&oneTaken{tuple(peerIP, 5201, snatIP, 5000, packet.ProtoUDP, snatZone)})
	port := m.Reply.DstPort
	sent := datagram(udpFrame(t, peerIP, 5201, vmIP, 5000, []byte("late reply")))
	frame := icmpErrFrame(t, vmIP, peerIP, packet.ICMPDestUnreachable, 3, sent)
	p := decode(t, frame)
	if inner, _ := InnerTuple(frame, p, snatZone); inner != m.Orig.Reverse() {
		t.Fatalf("InnerTuple %v", inner)
	}
	if !RewriteICMPError(frame, p, dir(m, conntrack.DirOrig)) {
		t.Fatal("refused")
	}
	checkFrame(t, frame)
	if p.Src != snatIP || p.Dst != peerIP {
		t.Errorf("outer %v -> %v", p.Src, p.Dst)
	}
	want := datagram(udpFrame(t, peerIP, 5201, snatIP, port, []byte("late reply")))
	if got := quotedAt(frame); !bytes.Equal(got, want) {
		t.Errorf("quote\n got %x\nwant %x", got, want)
	}
}

// DNAT: the logical host's error about a client's packet leaves from the
// floating IP and quotes the packet as the client addressed it.
func TestICMPErrorDNAT(t *testing.T) {
	d := DNAT{External: floatIP, Logical: logicalIP}
	orig := tuple(clientIP, 40000, floatIP, 53, packet.ProtoUDP, 6)
	reply, _ := d.ChooseReply(orig, noneTaken)
	m := conntrack.Match{Orig: orig, Reply: reply, Dir: conntrack.DirReply}
	sent := datagram(udpFrame(t, clientIP, 40000, logicalIP, 53, []byte("query")))
	frame := icmpErrFrame(t, logicalIP, clientIP, packet.ICMPDestUnreachable, 3, sent)
	p := decode(t, frame)
	if !RewriteICMPError(frame, p, &m) {
		t.Fatal("refused")
	}
	checkFrame(t, frame)
	if p.Src != floatIP || p.Dst != clientIP {
		t.Errorf("outer %v -> %v", p.Src, p.Dst)
	}
	want := datagram(udpFrame(t, clientIP, 40000, floatIP, 53, []byte("query")))
	if got := quotedAt(frame); !bytes.Equal(got, want) {
		t.Errorf("quote\n got %x\nwant %x", got, want)
	}
}

func TestICMPErrorRefusesMalformed(t *testing.T) {
	m := dir(seedConn(t, packet.ProtoUDP, 5000, 5201, noneTaken), conntrack.DirReply)
	good := datagram(udpFrame(t, snatIP, 5000, peerIP, 5201, []byte("x")))
	other := datagram(udpFrame(t, snatIP, 5001, peerIP, 5201, []byte("x")))
	innerErr := datagram(icmpErrFrame(t, snatIP, peerIP, packet.ICMPDestUnreachable, 3, good[:28]))
	badVer := append([]byte(nil), good...)
	badVer[0] = 0x65
	badIHL := append([]byte(nil), good...)
	badIHL[0] = 0x44
	frag := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(frag[6:], 0x0002)
	cases := map[string][]byte{
		"ip header only":     good[:20],
		"7 bytes of l4":      good[:27],
		"not this conn":      other,
		"error about error":  innerErr,
		"quoted version 6":   badVer,
		"quoted IHL 4":       badIHL,
		"quoted later frag":  frag,
		"empty quote":        nil,
		"options beyond end": append([]byte{0x4f}, good[1:28]...),
	}
	for name, q := range cases {
		frame := icmpErrFrame(t, peerIP, snatIP, packet.ICMPDestUnreachable, 3, q)
		before := append([]byte(nil), frame...)
		p := decode(t, frame)
		if name == "not this conn" {
			if _, ok := InnerTuple(frame, p, snatZone); !ok {
				t.Errorf("%s: InnerTuple refused a well-formed quote", name)
			}
		} else if tu, ok := InnerTuple(frame, p, snatZone); ok {
			t.Errorf("%s: InnerTuple = %v", name, tu)
		}
		if RewriteICMPError(frame, p, m) {
			t.Errorf("%s: accepted", name)
		}
		if !bytes.Equal(frame, before) {
			t.Errorf("%s: frame modified", name)
		}
	}
	// Not an error at all.
	frame := echoFrame(t, peerIP, snatIP, packet.ICMPEchoReply, 5000, 1)
	p := decode(t, frame)
	if _, ok := InnerTuple(frame, p, 0); ok || RewriteICMPError(frame, p, m) {
		t.Error("echo reply taken for an error")
	}
}

func TestRewriteICMPErrorAllocs(t *testing.T) {
	m := seedConn(t, packet.ProtoUDP, 5000, 5201, noneTaken)
	sent := datagram(udpFrame(t, snatIP, 5000, peerIP, 5201, []byte("x")))
	frame := icmpErrFrame(t, peerIP, snatIP, packet.ICMPDestUnreachable, 3, sent)
	orig := append([]byte(nil), frame...)
	var p packet.Parsed
	rm := dir(m, conntrack.DirReply)
	n := testing.AllocsPerRun(100, func() {
		copy(frame, orig)
		p.Decode(frame)
		InnerTuple(frame, &p, snatZone)
		if !RewriteICMPError(frame, &p, rm) {
			panic("refused")
		}
	})
	if n != 0 {
		t.Errorf("%v allocs", n)
	}
}
