package nat

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/internal/pkttest"
	"github.com/xgw-dev/xgw/packet"
)

// NAT66 tests: every frame, before and after, is built by gopacket, which
// computes every checksum; a translated frame must equal, byte for byte,
// the frame gopacket builds with the translated addresses and ports.

var (
	vm6     = packet.MustIP6("fd00::5")
	peer6   = packet.MustIP6("2001:db8::1:2")
	snat6   = packet.MustIP6("2001:db8:ff::64")
	router6 = packet.MustIP6("2001:db8::fe")
)

func ip6Layer(src, dst packet.IP6, proto layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, TrafficClass: 0x20, FlowLabel: 0x12345, HopLimit: 63,
		NextHeader: proto, SrcIP: net.IP(src[:]), DstIP: net.IP(dst[:])}
}

// build6 builds Ethernet/IPv6/rest with gopacket (pkttest.IPv6Frame),
// from the VM's MAC to the gateway's, every checksum computed.
func build6(tb testing.TB, ip *layers.IPv6, rest ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	return pkttest.IPv6Frame(tb, net.HardwareAddr{0, 0, 0x19, 0x91, 0, 0x10}, net.HardwareAddr{2, 0, 0, 0, 0, 1}, ip, nil, rest...)
}

func udp6Frame(tb testing.TB, src packet.IP6, sport uint16, dst packet.IP6, dport uint16) []byte {
	return build6(tb, ip6Layer(src, dst, layers.IPProtocolUDP),
		&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload("hello, nat66"))
}

func tcp6Frame(tb testing.TB, src packet.IP6, sport uint16, dst packet.IP6, dport uint16) []byte {
	return build6(tb, ip6Layer(src, dst, layers.IPProtocolTCP),
		&layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 0x01020304,
			Ack: 0x0a0b0c0d, ACK: true, PSH: true, Window: 502}, gopacket.Payload("GET / HTTP/1.1\r\n"))
}

func echo6Frame(tb testing.TB, src, dst packet.IP6, typ uint8, id, seq uint16) []byte {
	return build6(tb, ip6Layer(src, dst, layers.IPProtocolICMPv6),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)},
		&layers.ICMPv6Echo{Identifier: id, SeqNumber: seq}, gopacket.Payload("abcdefghijklmnop"))
}

// icmp6ErrFrame wraps quote (an IPv6 datagram, possibly truncated) in an
// ICMPv6 error from src to dst. The 4 bytes after the type, code and
// checksum (unused, MTU or pointer) are mtu.
func icmp6ErrFrame(tb testing.TB, src, dst packet.IP6, typ, code uint8, mtu uint32, quote []byte) []byte {
	body := append([]byte{byte(mtu >> 24), byte(mtu >> 16), byte(mtu >> 8), byte(mtu)}, quote...)
	return build6(tb, ip6Layer(src, dst, layers.IPProtocolICMPv6),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}, gopacket.Payload(body))
}

// datagram6 is the IPv6 datagram of an Ethernet frame.
func datagram6(frame []byte) []byte { return frame[14:] }

func decode6(tb testing.TB, frame []byte) *packet.Parsed {
	tb.Helper()
	var p packet.Parsed
	if r := p.DecodeDual(frame); (r != packet.OK && r != packet.Fragment) || p.Family != 6 {
		tb.Fatalf("decode: %v family %d", r, p.Family)
	}
	return &p
}

// checkGopacket6 has gopacket decode frame and serialise its layers again
// with freshly computed checksums (the IPv6 pseudo-header for TCP, UDP and
// ICMPv6): the bytes must not change, so every checksum verifies.
func checkGopacket6(tb testing.TB, frame []byte) {
	tb.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		tb.Fatalf("gopacket decode: %v", el.Error())
	}
	var ls []gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	for _, l := range pkt.Layers() {
		sl, ok := l.(gopacket.SerializableLayer)
		if !ok {
			tb.Fatalf("gopacket: %v not serialisable", l.LayerType())
		}
		if n, ok := l.(gopacket.NetworkLayer); ok && nl == nil {
			nl = n
		}
		if c, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			if err := c.SetNetworkLayerForChecksum(nl); err != nil {
				tb.Fatal(err)
			}
		}
		ls = append(ls, sl)
	}
	if pkt.Layer(layers.LayerTypeICMPv6Echo) != nil {
		// gopacket (1.1.19) drops an echo's data when it decodes it, so
		// it cannot serialise the frame again; echo frames are compared
		// with the frame its serialiser builds instead (golden tests).
		return
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), frame) {
		tb.Errorf("gopacket recomputes the frame\n got %x\nwant %x", frame, buf.Bytes())
	}
}

// snat66Conn commits the seed's flow in IPv6: vm6 → peer6 in the SNAT
// zone through an SNAT6 rule, and returns the connection.
func snat66Conn(tb testing.TB, ct *conntrack.Table6, proto uint8, sport, dport uint16, typ uint8) conntrack.Match6 {
	tb.Helper()
	s, err := NewSNAT6(netip.MustParsePrefix("fd00::/64"), []packet.IP6{snat6}, 30000, 30000)
	if err != nil {
		tb.Fatal(err)
	}
	m := &conntrack.Meta{Len: 60, TCPFlags: 0x02, WScale: -1, ICMPType: typ}
	mt, err := ct.Commit(conntrack.Tuple6{Src: vm6, Dst: peer6, SrcPort: sport, DstPort: dport, Proto: proto, Zone: snatZone}, m, 0, s)
	if err != nil {
		tb.Fatal(err)
	}
	return mt
}

func newTable6(tb testing.TB) *conntrack.Table6 {
	tb.Helper()
	ct, err := conntrack.NewTable6(conntrack.Config{Capacity: 64})
	if err != nil {
		tb.Fatal(err)
	}
	return ct
}

// SNAT66 both ways, TCP, UDP and ICMPv6 echo: the frame leaves as
// snat6:30000 (echo id 30000) and the reply comes back to vm6 with its own
// port; each result is what gopacket builds for the translated packet.
func TestRewrite6SNATBothDirections(t *testing.T) {
	for _, c := range []struct {
		name          string
		proto         uint8
		out, wantOut  func() []byte
		back, wantBak func() []byte
	}{
		{"udp", packet.ProtoUDP,
			func() []byte { return udp6Frame(t, vm6, 47190, peer6, 5201) },
			func() []byte { return udp6Frame(t, snat6, 30000, peer6, 5201) },
			func() []byte { return udp6Frame(t, peer6, 5201, snat6, 30000) },
			func() []byte { return udp6Frame(t, peer6, 5201, vm6, 47190) }},
		{"tcp", packet.ProtoTCP,
			func() []byte { return tcp6Frame(t, vm6, 47190, peer6, 5201) },
			func() []byte { return tcp6Frame(t, snat6, 30000, peer6, 5201) },
			func() []byte { return tcp6Frame(t, peer6, 5201, snat6, 30000) },
			func() []byte { return tcp6Frame(t, peer6, 5201, vm6, 47190) }},
		{"icmpv6", packet.ProtoICMPv6,
			func() []byte { return echo6Frame(t, vm6, peer6, packet.ICMPv6EchoRequest, 77, 1) },
			func() []byte { return echo6Frame(t, snat6, peer6, packet.ICMPv6EchoRequest, 30000, 1) },
			func() []byte { return echo6Frame(t, peer6, snat6, packet.ICMPv6EchoReply, 30000, 1) },
			func() []byte { return echo6Frame(t, peer6, vm6, packet.ICMPv6EchoReply, 77, 1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ct := newTable6(t)
			sport, dport := uint16(47190), uint16(5201)
			if c.proto == packet.ProtoICMPv6 {
				sport, dport = 77, 77
			}
			mt := snat66Conn(t, ct, c.proto, sport, dport, packet.ICMPv6EchoRequest)
			if mt.State&conntrack.SrcNAT == 0 || mt.Reply.Dst != snat6 || mt.Reply.DstPort != 30000 {
				t.Fatalf("commit %+v", mt)
			}
			for _, d := range []struct {
				frame, want []byte
				dir         conntrack.Dir
			}{{c.out(), c.wantOut(), conntrack.DirOrig}, {c.back(), c.wantBak(), conntrack.DirReply}} {
				p := decode6(t, d.frame)
				m := mt
				m.Dir = d.dir
				tgt, needed := Target6(&m)
				if !needed {
					t.Fatal("NAT not needed")
				}
				Rewrite6(d.frame, p, tgt)
				if !bytes.Equal(d.frame, d.want) {
					t.Fatalf("dir %d:\n got %x\nwant %x", d.dir, d.frame, d.want)
				}
				checkGopacket6(t, d.frame)
				if q := decode6(t, d.frame); q.Src6 != p.Src6 || q.Dst6 != p.Dst6 || q.SrcPort != p.SrcPort || q.DstPort != p.DstPort {
					t.Fatalf("Parsed not updated: %+v vs %+v", p, q)
				}
			}
		})
	}
}

// DNAT66 and the SNAT half of an IPv6 dnat_and_snat.
func TestRewrite6DNATAndSNAT(t *testing.T) {
	floating := packet.MustIP6("2001:db8:ff::99")
	d := DNAT6{External: floating, Logical: vm6}
	ct := newTable6(t)
	in := conntrack.Tuple6{Src: peer6, Dst: floating, SrcPort: 40000, DstPort: 22, Proto: packet.ProtoTCP, Zone: 6}
	if !d.Matches(in.Dst) {
		t.Fatal("Matches")
	}
	mt, err := ct.Commit(in, &conntrack.Meta{TCPFlags: 0x02, WScale: -1}, 0, d)
	if err != nil || mt.State&conntrack.DstNAT == 0 || mt.Reply.Src != vm6 {
		t.Fatalf("%v %+v", err, mt)
	}
	f := tcp6Frame(t, peer6, 40000, floating, 22)
	tgt, _ := Target6(&mt)
	Rewrite6(f, decode6(t, f), tgt)
	if want := tcp6Frame(t, peer6, 40000, vm6, 22); !bytes.Equal(f, want) {
		t.Fatalf("dnat:\n got %x\nwant %x", f, want)
	}
	s, err := d.SNAT(0, 0)
	if err != nil || !s.Matches(vm6) || s.Matches(peer6) {
		t.Fatalf("dnat_and_snat SNAT half: %v", err)
	}
	r, ok := s.ChooseReply(conntrack.Tuple6{Src: vm6, Dst: peer6, SrcPort: 5555, DstPort: 80, Proto: packet.ProtoUDP, Zone: 16}, noneTaken6)
	if !ok || r.Dst != floating || r.DstPort != 5555 {
		t.Fatalf("floating IP keeps the port: %v %v", r, ok)
	}
	if _, err := (DNAT6{Logical: vm6}).SNAT(0, 0); err == nil {
		t.Fatal("unspecified external address accepted")
	}
}

var noneTaken6 = takenFunc6(func(conntrack.Tuple6) bool { return false })

type takenFunc6 func(conntrack.Tuple6) bool

func (f takenFunc6) Taken(t conntrack.Tuple6) bool { return f(t) }

// SNAT6 allocates as SNAT does: the original port when free, else another
// port of the range, the address by the source, exhaustion counted; ICMPv6
// echo gets an id in both ports; other protocols keep theirs.
func TestSNAT6Allocation(t *testing.T) {
	ext := []packet.IP6{snat6, packet.MustIP6("2001:db8:ff::65")}
	s, err := NewSNAT6(netip.MustParsePrefix("fd00::/64"), ext, 2000, 2002)
	if err != nil {
		t.Fatal(err)
	}
	taken := map[conntrack.Tuple6]bool{}
	tk := takenFunc6(func(x conntrack.Tuple6) bool { return taken[x] })
	orig := conntrack.Tuple6{Src: vm6, Dst: peer6, SrcPort: 2001, DstPort: 80, Proto: packet.ProtoUDP, Zone: 16}
	r, ok := s.ChooseReply(orig, tk)
	if !ok || r.DstPort != 2001 || r.Src != peer6 || r.SrcPort != 80 {
		t.Fatalf("kept port: %v %v", r, ok)
	}
	addr := r.Dst
	seen := map[uint16]bool{}
	for i := 0; i < 3; i++ {
		r, ok := s.ChooseReply(orig, tk)
		if !ok || r.Dst != addr || seen[r.DstPort] || r.DstPort < 2000 || r.DstPort > 2002 {
			t.Fatalf("alloc %d: %v %v", i, r, ok)
		}
		seen[r.DstPort] = true
		taken[r] = true
	}
	// The host's address is full: the other one.
	if r, ok := s.ChooseReply(orig, tk); !ok || r.Dst == addr {
		t.Fatalf("second address: %v %v", r, ok)
	}
	for _, e := range ext {
		for p := uint16(2000); p <= 2002; p++ {
			taken[conntrack.Tuple6{Src: peer6, Dst: e, SrcPort: 80, DstPort: p, Proto: packet.ProtoUDP, Zone: 16}] = true
		}
	}
	if _, ok := s.ChooseReply(orig, tk); ok || s.Exhausted() != 1 {
		t.Fatalf("exhaustion: %v %d", ok, s.Exhausted())
	}
	echo := conntrack.Tuple6{Src: vm6, Dst: peer6, SrcPort: 9, DstPort: 9, Proto: packet.ProtoICMPv6, Zone: 16}
	if r, ok := s.ChooseReply(echo, noneTaken6); !ok || r.SrcPort != r.DstPort || r.DstPort < 2000 || r.DstPort > 2002 {
		t.Fatalf("echo id: %v %v", r, ok)
	}
	gre := conntrack.Tuple6{Src: vm6, Dst: peer6, Proto: 47, Zone: 16}
	if r, ok := s.ChooseReply(gre, noneTaken6); !ok || r.DstPort != 0 || (r.Dst != ext[0] && r.Dst != ext[1]) {
		t.Fatalf("gre: %v %v", r, ok)
	}
	for _, bad := range []struct {
		pfx string
		ext []packet.IP6
		lo  uint16
		hi  uint16
	}{{"10.0.0.0/8", ext, 0, 0}, {"::ffff:10.0.0.0/104", ext, 0, 0}, {"fd00::/64", nil, 0, 0}, {"fd00::/64", []packet.IP6{{}}, 0, 0}, {"fd00::/64", ext, 5, 4}} {
		if _, err := NewSNAT6(netip.MustParsePrefix(bad.pfx), bad.ext, bad.lo, bad.hi); err == nil {
			t.Errorf("NewSNAT6(%s, %v, %d-%d) accepted", bad.pfx, bad.ext, bad.lo, bad.hi)
		}
	}
}

// Golden ICMPv6 error translation: errors from outside about the SNATed
// flow reach the VM as if no NAT were there — outer destination and the
// quoted datagram's source translated back, every checksum as gopacket
// computes it for the translated packet, whether the quote is whole
// (UDP, checksum quoted), truncated after the ports (TCP, checksum not
// quoted) or an echo request (its checksum over the quoted pseudo-header).
func TestRewriteICMPError6Golden(t *testing.T) {
	for _, c := range []struct {
		name        string
		proto       uint8
		typ, code   uint8
		from        packet.IP6
		quote, want []byte
	}{
		{"udp port unreachable from the peer", packet.ProtoUDP, packet.ICMPv6DestUnreachable, 4, peer6,
			datagram6(udp6Frame(t, snat6, 30000, peer6, 5201)), datagram6(udp6Frame(t, vm6, 47190, peer6, 5201))},
		{"tcp packet too big from a router, quote truncated", packet.ProtoTCP, packet.ICMPv6PacketTooBig, 0, router6,
			datagram6(tcp6Frame(t, snat6, 30000, peer6, 5201))[:48], datagram6(tcp6Frame(t, vm6, 47190, peer6, 5201))[:48]},
		{"echo time exceeded", packet.ProtoICMPv6, packet.ICMPv6TimeExceeded, 0, router6,
			datagram6(echo6Frame(t, snat6, peer6, packet.ICMPv6EchoRequest, 30000, 1)), datagram6(echo6Frame(t, vm6, peer6, packet.ICMPv6EchoRequest, 77, 1))},
	} {
		t.Run(c.name, func(t *testing.T) {
			ct := newTable6(t)
			sport, dport := uint16(47190), uint16(5201)
			if c.proto == packet.ProtoICMPv6 {
				sport, dport = 77, 77
			}
			mt := snat66Conn(t, ct, c.proto, sport, dport, packet.ICMPv6EchoRequest)
			f := icmp6ErrFrame(t, c.from, snat6, c.typ, c.code, 1280, c.quote)
			want := icmp6ErrFrame(t, c.from, vm6, c.typ, c.code, 1280, c.want)
			checkGopacket6(t, f)
			p := decode6(t, f)
			inner, ok := InnerTuple6(f, p, snatZone)
			if !ok {
				t.Fatal("InnerTuple6")
			}
			rel, ok := ct.LookupRelated(inner, &conntrack.Meta{Len: 100, ICMPType: c.typ}, 1)
			if !ok || rel.Handle != mt.Handle || rel.Dir != conntrack.DirReply || rel.State&conntrack.Related == 0 {
				t.Fatalf("related: %v %+v", ok, rel)
			}
			if !RewriteICMPError6(f, p, &rel) {
				t.Fatal("RewriteICMPError6 refused")
			}
			if !bytes.Equal(f, want) {
				t.Fatalf("\n got %x\nwant %x", f, want)
			}
			checkGopacket6(t, f)
			if p.Dst6 != vm6 || p.Src6 != c.from {
				t.Fatalf("Parsed addresses %v %v", p.Src6, p.Dst6)
			}
		})
	}
}

// An error about the VM's own outgoing datagram, raised before the NAT
// point (quote untranslated, travelling orig-wards), is left alone; a
// quote of another flow, a truncated quote, an error about an error and
// non-errors are refused with the frame unchanged.
func TestRewriteICMPError6Refuses(t *testing.T) {
	ct := newTable6(t)
	mt := snat66Conn(t, ct, packet.ProtoUDP, 47190, 5201, 0)
	pre := icmp6ErrFrame(t, router6, vm6, packet.ICMPv6DestUnreachable, 0, 0, datagram6(udp6Frame(t, vm6, 47190, peer6, 5201)))
	keep := append([]byte(nil), pre...)
	m := mt
	m.Dir = conntrack.DirReply
	if !RewriteICMPError6(pre, decode6(t, pre), &m) || !bytes.Equal(pre, keep) {
		t.Fatal("untranslated quote changed or refused")
	}
	for name, f := range map[string][]byte{
		"other flow": icmp6ErrFrame(t, peer6, snat6, 1, 4, 0, datagram6(udp6Frame(t, snat6, 30001, peer6, 5201))),
		"truncated":  icmp6ErrFrame(t, peer6, snat6, 1, 4, 0, datagram6(udp6Frame(t, snat6, 30000, peer6, 5201))[:44]),
		"error about error": icmp6ErrFrame(t, peer6, snat6, 1, 4, 0,
			datagram6(icmp6ErrFrame(t, snat6, peer6, 1, 0, 0, datagram6(udp6Frame(t, peer6, 5201, snat6, 30000))))),
		"echo is no error": echo6Frame(t, peer6, snat6, packet.ICMPv6EchoReply, 30000, 1),
	} {
		keep := append([]byte(nil), f...)
		if RewriteICMPError6(f, decode6(t, f), &m) {
			t.Errorf("%s: accepted", name)
		}
		if !bytes.Equal(f, keep) {
			t.Errorf("%s: frame changed", name)
		}
	}
}

// The NAT66 hot paths allocate nothing.
func TestRewrite6Allocs(t *testing.T) {
	ct := newTable6(t)
	mt := snat66Conn(t, ct, packet.ProtoUDP, 47190, 5201, 0)
	f := udp6Frame(t, vm6, 47190, peer6, 5201)
	p := decode6(t, f)
	tgt, _ := Target6(&mt)
	back := mt.Orig
	if n := testing.AllocsPerRun(1000, func() {
		Rewrite6(f, p, tgt)
		Rewrite6(f, p, back)
	}); n != 0 {
		t.Fatalf("Rewrite6 allocates %v", n)
	}
	e := icmp6ErrFrame(t, peer6, snat6, 1, 4, 0, datagram6(udp6Frame(t, snat6, 30000, peer6, 5201)))
	ep := decode6(t, e)
	m := mt
	m.Dir = conntrack.DirReply
	if n := testing.AllocsPerRun(1000, func() {
		x := *ep
		RewriteICMPError6(e, &x, &m)
		InnerTuple6(e, &x, snatZone)
	}); n != 0 {
		t.Fatalf("RewriteICMPError6 allocates %v", n)
	}
	s, _ := NewSNAT6(netip.MustParsePrefix("fd00::/64"), []packet.IP6{snat6}, 0, 0)
	if n := testing.AllocsPerRun(1000, func() { s.ChooseReply(mt.Orig, noneTaken6) }); n != 0 {
		t.Fatalf("SNAT6.ChooseReply allocates %v", n)
	}
}

// IPv6 fragments: the first carries the UDP header and gets the whole
// datagram's checksum delta; a later one only its addresses (its bytes
// are payload, however much they look like ports).
func TestRewrite6Fragments(t *testing.T) {
	frag := func(src, dst packet.IP6, offset uint16, more bool, rest ...gopacket.SerializableLayer) []byte {
		return pkttest.IPv6Frame(t, net.HardwareAddr{0, 0, 0x19, 0x91, 0, 0x10}, net.HardwareAddr{2, 0, 0, 0, 0, 1},
			ip6Layer(src, dst, layers.IPProtocolUDP), []pkttest.Ext{pkttest.Fragment(offset, more, 0xabcd)}, rest...)
	}
	udp := func(sport uint16) []gopacket.SerializableLayer {
		u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 5201}
		return []gopacket.SerializableLayer{u, gopacket.Payload(make([]byte, 64))}
	}
	// gopacket computes the first fragment's checksum over what it holds:
	// the same linear sum the rewrite patches, so both must agree.
	first := frag(vm6, peer6, 0, true, udp(47190)...)
	tgt := conntrack.Tuple6{Src: snat6, Dst: peer6, SrcPort: 30000, DstPort: 5201}
	p := decode6(t, first)
	if !p.Frag || p.Proto != packet.ProtoUDP {
		t.Fatalf("first fragment decoded as %+v", p)
	}
	Rewrite6(first, p, tgt)
	if want := frag(snat6, peer6, 0, true, udp(30000)...); !bytes.Equal(first, want) {
		t.Fatalf("first fragment:\n got %x\nwant %x", first, want)
	}
	body := gopacket.Payload([]byte{0xb8, 0x56, 0x14, 0x51, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	later := frag(vm6, peer6, 9, false, body)
	var q packet.Parsed
	if r := q.DecodeDual(later); r != packet.Fragment {
		t.Fatalf("later fragment: %v", r)
	}
	Rewrite6(later, &q, tgt)
	if want := frag(snat6, peer6, 9, false, body); !bytes.Equal(later, want) {
		t.Fatalf("later fragment:\n got %x\nwant %x", later, want)
	}
}

// ext6 is one extension header for withExt6: its protocol number and its
// whole bytes (the next-header byte is filled in).
type ext6 struct {
	proto uint8
	b     []byte
}

// Extension headers as a VM may send them: hop-by-hop and destination
// options with a PadN option, a fragment header (first fragment, more to
// come), routing headers (type 4, segment routing) with and without
// segments left.
var (
	hbh6      = ext6{packet.ProtoHopByHop, []byte{0, 0, 1, 4, 0, 0, 0, 0}}
	dstOpts6  = ext6{packet.ProtoDstOpts, []byte{0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}
	fragHdr6  = ext6{packet.ProtoFragment, []byte{0, 0, 0, 1, 0, 0, 0x12, 0x34}}
	laterFrag = ext6{packet.ProtoFragment, []byte{0, 0, 0, 9, 0, 0, 0x12, 0x34}} // offset 8 bytes
	rtDone6   = ext6{packet.ProtoRouting, []byte{0, 2, 4, 0, 0, 0, 0, 0, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}
	rtLeft6   = ext6{packet.ProtoRouting, []byte{0, 2, 4, 1, 0, 0, 0, 0, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}
)

// withExt6 inserts exts, in order, between the fixed header of datagram d
// and its payload, chaining next headers and fixing the payload length.
// The upper-layer checksum is unchanged (no routing header with segments
// left changes the final destination here).
func withExt6(d []byte, exts ...ext6) []byte {
	out := append([]byte(nil), d[:packet.IPv6Len]...)
	next := d[6]
	out[6] = next
	if len(exts) > 0 {
		out[6] = exts[0].proto
	}
	for i, e := range exts {
		h := append([]byte(nil), e.b...)
		h[0] = next
		if i+1 < len(exts) {
			h[0] = exts[i+1].proto
		}
		out = append(out, h...)
	}
	out = append(out, d[packet.IPv6Len:]...)
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-packet.IPv6Len))
	return out
}

// TestRewriteICMPError6ExtHeaders: an error whose quote carries extension
// headers (hop-by-hop, destination options, a first fragment, a routing
// header with no segments left) between the quoted header and its L4
// header is related to the connection and translated like one without:
// the quoted addresses and ports rewritten, the extension headers kept,
// every checksum as gopacket computes it, also with the quote truncated
// right after the ports.
func TestRewriteICMPError6ExtHeaders(t *testing.T) {
	sent := datagram6(udp6Frame(t, snat6, 30000, peer6, 5201))
	orig := datagram6(udp6Frame(t, vm6, 47190, peer6, 5201))
	sentTCP := datagram6(tcp6Frame(t, snat6, 30000, peer6, 5201))
	origTCP := datagram6(tcp6Frame(t, vm6, 47190, peer6, 5201))
	for _, c := range []struct {
		name        string
		proto       uint8
		quote, want []byte
	}{
		{"hop-by-hop and destination options", packet.ProtoUDP, withExt6(sent, hbh6, dstOpts6), withExt6(orig, hbh6, dstOpts6)},
		{"first fragment", packet.ProtoUDP, withExt6(sent, fragHdr6), withExt6(orig, fragHdr6)},
		{"routing header, no segments left", packet.ProtoUDP, withExt6(sent, rtDone6), withExt6(orig, rtDone6)},
		{"tcp, quote cut after the ports", packet.ProtoTCP,
			withExt6(sentTCP, hbh6, dstOpts6)[:40+8+16+8], withExt6(origTCP, hbh6, dstOpts6)[:40+8+16+8]},
	} {
		t.Run(c.name, func(t *testing.T) {
			ct := newTable6(t)
			mt := snat66Conn(t, ct, c.proto, 47190, 5201, 0)
			f := icmp6ErrFrame(t, router6, snat6, packet.ICMPv6PacketTooBig, 0, 1280, c.quote)
			want := icmp6ErrFrame(t, router6, vm6, packet.ICMPv6PacketTooBig, 0, 1280, c.want)
			checkGopacket6(t, f)
			p := decode6(t, f)
			inner, ok := InnerTuple6(f, p, snatZone)
			if !ok {
				t.Fatal("InnerTuple6 refused the quote")
			}
			if n := testing.AllocsPerRun(100, func() { InnerTuple6(f, p, snatZone) }); n != 0 {
				t.Fatalf("InnerTuple6 allocates %v", n)
			}
			if inner.Proto != c.proto || inner.SrcPort != 30000 || inner.DstPort != 5201 {
				t.Fatalf("inner tuple %+v", inner)
			}
			rel, ok := ct.LookupRelated(inner, &conntrack.Meta{Len: 100, ICMPType: packet.ICMPv6PacketTooBig}, 1)
			if !ok || rel.Handle != mt.Handle || rel.State&conntrack.Related == 0 {
				t.Fatalf("related: %v %+v", ok, rel)
			}
			if !RewriteICMPError6(f, p, &rel) {
				t.Fatal("RewriteICMPError6 refused")
			}
			if !bytes.Equal(f, want) {
				t.Fatalf("\n got %x\nwant %x", f, want)
			}
			checkGopacket6(t, f)
		})
	}
}

// TestRewriteICMPError6ExtHeadersRefused: quotes whose extension headers
// leave no L4 header to key (a non-first fragment, a chain cut by the
// truncation) or whose routing header has segments left (the quoted L4
// checksum covers another destination) are not related.
func TestRewriteICMPError6ExtHeadersRefused(t *testing.T) {
	sent := datagram6(udp6Frame(t, snat6, 30000, peer6, 5201))
	ct := newTable6(t)
	mt := snat66Conn(t, ct, packet.ProtoUDP, 47190, 5201, 0)
	m := mt
	m.Dir = conntrack.DirReply
	for name, q := range map[string][]byte{
		"later fragment":             withExt6(sent, laterFrag),
		"chain cut by the quote":     withExt6(sent, hbh6, dstOpts6)[:40+8+12],
		"ports cut after the chain":  withExt6(sent, hbh6, dstOpts6)[:40+8+16+4],
		"routing with segments left": withExt6(sent, rtLeft6),
	} {
		f := icmp6ErrFrame(t, peer6, snat6, packet.ICMPv6DestUnreachable, 4, 0, q)
		keep := append([]byte(nil), f...)
		p := decode6(t, f)
		if _, ok := InnerTuple6(f, p, snatZone); ok {
			t.Errorf("%s: InnerTuple6 accepted", name)
		}
		if RewriteICMPError6(f, p, &m) || !bytes.Equal(f, keep) {
			t.Errorf("%s: rewritten", name)
		}
	}
}
