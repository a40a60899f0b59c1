package nat

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// seedConn commits the seed's egress conn through a real SNAT rule and
// returns its match for the given direction.
func seedConn(t testing.TB, proto uint8, sport, dport uint16, taken conntrack.Taken) conntrack.Match {
	s := mustSNAT(t, "10.199.100.0/24", 0, 0, snatIP)
	orig := tuple(vmIP, sport, peerIP, dport, proto, snatZone)
	reply, ok := s.ChooseReply(orig, taken)
	if !ok {
		t.Fatal("SNAT refused")
	}
	return conntrack.Match{Orig: orig, Reply: reply, State: conntrack.Tracked | conntrack.SrcNAT}
}

func dir(m conntrack.Match, d conntrack.Dir) *conntrack.Match { m.Dir = d; return &m }

// assertParsed checks that p was updated to what a fresh decode says.
func assertParsed(t *testing.T, frame []byte, p *packet.Parsed) {
	t.Helper()
	var fresh packet.Parsed
	fresh.Decode(frame)
	if fresh != *p {
		t.Errorf("Parsed not kept in step:\n got %+v\nwant %+v", *p, fresh)
	}
}

func TestTarget(t *testing.T) {
	orig := tuple(vmIP, 5000, peerIP, 5201, packet.ProtoUDP, snatZone)
	plain := conntrack.Match{Orig: orig, Reply: orig.Reverse()}
	for _, d := range []conntrack.Dir{conntrack.DirOrig, conntrack.DirReply} {
		if _, needed := Target(dir(plain, d)); needed {
			t.Errorf("dir %d: un-NATed conn needs a rewrite", d)
		}
	}
	m := conntrack.Match{Orig: orig, Reply: tuple(peerIP, 5201, snatIP, 61000, packet.ProtoUDP, snatZone)}
	if got, ok := Target(dir(m, conntrack.DirOrig)); !ok || got != tuple(snatIP, 61000, peerIP, 5201, packet.ProtoUDP, snatZone) {
		t.Errorf("orig target %v", got)
	}
	if got, ok := Target(dir(m, conntrack.DirReply)); !ok || got != tuple(peerIP, 5201, vmIP, 5000, packet.ProtoUDP, snatZone) {
		t.Errorf("reply target %v", got)
	}
}

// The seed both ways, for TCP and UDP, with the port kept and with a probed
// port (so that addresses and ports change together).
func TestRewriteSNATBothDirections(t *testing.T) {
	payload := []byte("iperf3 payload, odd length!")
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
		for _, busy := range []bool{false, true} {
			var taken conntrack.Taken = noneTaken
			if busy {
				taken = &oneTaken{tuple(peerIP, 5201, snatIP, 5000, proto, snatZone)}
			}
			m := seedConn(t, proto, 5000, 5201, taken)
			port := m.Reply.DstPort
			if busy == (port == 5000) {
				t.Fatalf("busy=%v but port %d", busy, port)
			}
			mk := udpFrame
			if proto == packet.ProtoTCP {
				mk = tcpFrame
			}

			// Egress: 10.199.100.10:5000 -> 172.31.6.24:5201 leaves as 123.123.123.123:port.
			frame := mk(t, vmIP, 5000, peerIP, 5201, payload)
			p := decode(t, frame)
			tgt, needed := Target(dir(m, conntrack.DirOrig))
			if !needed {
				t.Fatal("not needed")
			}
			Rewrite(frame, p, tgt)
			checkFrame(t, frame)
			assertParsed(t, frame, p)
			if p.Src != snatIP || p.SrcPort != port || p.Dst != peerIP || p.DstPort != 5201 {
				t.Errorf("egress rewritten to %v:%d -> %v:%d", p.Src, p.SrcPort, p.Dst, p.DstPort)
			}
			if !bytes.HasSuffix(frame, payload) {
				t.Error("payload changed")
			}

			// Reply: 172.31.6.24:5201 -> 123.123.123.123:port goes back to 10.199.100.10:5000.
			frame = mk(t, peerIP, 5201, snatIP, port, payload)
			p = decode(t, frame)
			tgt, _ = Target(dir(m, conntrack.DirReply))
			Rewrite(frame, p, tgt)
			checkFrame(t, frame)
			assertParsed(t, frame, p)
			if p.Src != peerIP || p.SrcPort != 5201 || p.Dst != vmIP || p.DstPort != 5000 {
				t.Errorf("reply rewritten to %v:%d -> %v:%d", p.Src, p.SrcPort, p.Dst, p.DstPort)
			}
		}
	}
}

func TestRewriteDNAT(t *testing.T) {
	d := DNAT{External: floatIP, Logical: logicalIP}
	orig := tuple(clientIP, 40000, floatIP, 22, packet.ProtoTCP, 6)
	reply, _ := d.ChooseReply(orig, noneTaken)
	m := conntrack.Match{Orig: orig, Reply: reply}

	frame := tcpFrame(t, clientIP, 40000, floatIP, 22, []byte("SSH-2.0-x\r\n"))
	p := decode(t, frame)
	tgt, _ := Target(dir(m, conntrack.DirOrig))
	Rewrite(frame, p, tgt)
	checkFrame(t, frame)
	if p.Dst != logicalIP || p.Src != clientIP || p.DstPort != 22 {
		t.Errorf("inbound: %+v", p)
	}
	frame = tcpFrame(t, logicalIP, 22, clientIP, 40000, []byte("SSH-2.0-y\r\n"))
	p = decode(t, frame)
	tgt, _ = Target(dir(m, conntrack.DirReply))
	Rewrite(frame, p, tgt)
	checkFrame(t, frame)
	if p.Src != floatIP || p.Dst != clientIP {
		t.Errorf("outbound: %+v", p)
	}
}

func TestRewriteUDPZeroChecksumStaysZero(t *testing.T) {
	frame := udpFrame(t, vmIP, 5000, peerIP, 5201, []byte("no checksum"))
	csum := 14 + 20 + 6
	frame[csum], frame[csum+1] = 0, 0
	p := decode(t, frame)
	Rewrite(frame, p, tuple(snatIP, 61234, peerIP, 5201, packet.ProtoUDP, 0))
	if c := binary.BigEndian.Uint16(frame[csum:]); c != 0 {
		t.Errorf("zero UDP checksum became %#04x", c)
	}
	checkFrame(t, frame)
}

// A UDP datagram whose translated checksum computes to 0 must carry 0xFFFF.
func TestRewriteUDPChecksumZeroBecomesFFFF(t *testing.T) {
	const sport, dport, nport = 5000, 5201, 61234
	payload := []byte("....pad")
	// Choose the first payload word so that the translated datagram sums
	// to 0xFFFF, i.e. its computed checksum is 0.
	after := udpFrame(t, snatIP, nport, peerIP, dport, payload)
	ip := after[14 : 14+20+8+len(payload)] // without Ethernet padding
	binary.BigEndian.PutUint16(ip[20+6:], 0)
	binary.BigEndian.PutUint16(ip[20+8:], 0)
	s := naiveSum(pseudo(ip, len(ip)-20), ip[20:])
	binary.BigEndian.PutUint16(payload, 0xffff-s)

	frame := udpFrame(t, vmIP, sport, peerIP, dport, payload)
	p := decode(t, frame)
	Rewrite(frame, p, tuple(snatIP, nport, peerIP, dport, packet.ProtoUDP, 0))
	if c := binary.BigEndian.Uint16(frame[14+20+6:]); c != 0xffff {
		t.Fatalf("checksum %#04x, want 0xffff", c)
	}
	checkFrame(t, frame)
}

func TestRewriteICMPEcho(t *testing.T) {
	taken := &oneTaken{tuple(peerIP, 777, snatIP, 777, packet.ProtoICMP, snatZone)}
	m := seedConn(t, packet.ProtoICMP, 777, 777, taken) // id 777 is busy: translated
	id := m.Reply.DstPort
	if id == 777 || m.Reply.SrcPort != id {
		t.Fatalf("reply %v", m.Reply)
	}
	frame := echoFrame(t, vmIP, peerIP, packet.ICMPEchoRequest, 777, 1)
	p := decode(t, frame)
	tgt, _ := Target(dir(m, conntrack.DirOrig))
	Rewrite(frame, p, tgt)
	checkFrame(t, frame)
	assertParsed(t, frame, p)
	if packet.ICMPv4(p.L4(frame)).ID() != id || p.Src != snatIP {
		t.Errorf("echo request: id %d src %v", packet.ICMPv4(p.L4(frame)).ID(), p.Src)
	}
	frame = echoFrame(t, peerIP, snatIP, packet.ICMPEchoReply, id, 1)
	p = decode(t, frame)
	tgt, _ = Target(dir(m, conntrack.DirReply))
	Rewrite(frame, p, tgt)
	checkFrame(t, frame)
	assertParsed(t, frame, p)
	if packet.ICMPv4(p.L4(frame)).ID() != 777 || p.Dst != vmIP {
		t.Errorf("echo reply: id %d dst %v", packet.ICMPv4(p.L4(frame)).ID(), p.Dst)
	}
}

// setFrag marks the frame's IPv4 header as a fragment and fixes its
// checksum (by hand, not with package packet).
func setFrag(frame []byte, flagsFrag uint16) {
	ip := frame[14:34]
	binary.BigEndian.PutUint16(ip[6:], flagsFrag)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^naiveSum(ip))
}

func TestRewriteFragments(t *testing.T) {
	tgt := tuple(snatIP, 61000, peerIP, 5201, packet.ProtoUDP, 0)
	// First fragment (MF): its L4 header is there and is translated; the
	// checksum delta is that of the whole datagram.
	frame := udpFrame(t, vmIP, 5000, peerIP, 5201, []byte("first fragment payload"))
	setFrag(frame, 0x2000)
	p := decode(t, frame)
	Rewrite(frame, p, tgt)
	checkFrame(t, frame)
	if p.SrcPort != 61000 || binary.BigEndian.Uint16(frame[34:]) != 61000 {
		t.Error("first fragment's port not translated")
	}
	// Non-first: no L4 header, only addresses change.
	frame = udpFrame(t, vmIP, 5000, peerIP, 5201, []byte("later fragment payload"))
	setFrag(frame, 0x0003)
	l4 := append([]byte(nil), frame[34:]...)
	p = decode(t, frame)
	Rewrite(frame, p, tgt)
	if !bytes.Equal(frame[34:], l4) {
		t.Error("non-first fragment's payload touched")
	}
	if p.Src != snatIP || p.SrcPort != 0 {
		t.Errorf("non-first fragment: %+v", p)
	}
	checkFrame(t, frame)
}

// Translation of IP options and VLAN-tagged frames uses p's offsets.
func TestRewriteWithIPOptionsAndVLAN(t *testing.T) {
	ip := ipLayer(vmIP, peerIP, layers.IPProtocolTCP)
	ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	frame := build(t, ip, &layers.TCP{SrcPort: 5000, DstPort: 5201, SYN: true, Window: 64240})
	p := decode(t, frame)
	Rewrite(frame, p, tuple(snatIP, 61000, peerIP, 5201, packet.ProtoTCP, 0))
	checkFrame(t, frame)
	assertParsed(t, frame, p)

	frame = udpFrame(t, vmIP, 5000, peerIP, 5201, []byte("vlan"))
	tagged := append(append(append([]byte(nil), frame[:12]...), 0x81, 0, 0, 42), frame[12:]...)
	p = decode(t, tagged)
	Rewrite(tagged, p, tuple(snatIP, 61000, peerIP, 5201, packet.ProtoUDP, 0))
	untagged := append(append([]byte(nil), tagged[:12]...), tagged[16:]...)
	checkFrame(t, untagged)
	assertParsed(t, tagged, p)
}

func TestRewriteAllocs(t *testing.T) {
	frame := tcpFrame(t, vmIP, 5000, peerIP, 5201, make([]byte, 1400))
	var p packet.Parsed
	a := tuple(snatIP, 61000, peerIP, 5201, packet.ProtoTCP, 0)
	b := tuple(vmIP, 5000, peerIP, 5201, packet.ProtoTCP, 0)
	p.Decode(frame)
	if n := testing.AllocsPerRun(100, func() { Rewrite(frame, &p, a); Rewrite(frame, &p, b) }); n != 0 {
		t.Errorf("Rewrite: %v allocs", n)
	}
	checkFrame(t, frame)
}
