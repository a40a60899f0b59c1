package packet

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestDecodeDual6 decodes gopacket-built IPv6 frames and compares every
// field with gopacket's own decoding of the same bytes.
func TestDecodeDual6(t *testing.T) {
	tcp := &layers.TCP{SrcPort: 47190, DstPort: 22, SYN: true, ACK: true, Seq: 1, Window: 100}
	udp := &layers.UDP{SrcPort: 1000, DstPort: 53}
	echo := []gopacket.SerializableLayer{&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, &layers.ICMPv6Echo{Identifier: 777, SeqNumber: 3}}
	cases := map[string]struct {
		exts  []ext
		proto layers.IPProtocol
		l4    []gopacket.SerializableLayer
	}{
		"tcp":            {nil, layers.IPProtocolTCP, []gopacket.SerializableLayer{tcp, gopacket.Payload("hello")}},
		"udp":            {nil, layers.IPProtocolUDP, []gopacket.SerializableLayer{udp, gopacket.Payload("x")}},
		"echo":           {nil, layers.IPProtocolICMPv6, echo},
		"hbh+dst+rt+dst": {[]ext{hbh(1), dstopts(2), routing(2), dstopts(1)}, layers.IPProtocolUDP, []gopacket.SerializableLayer{udp}},
		"atomic frag":    {[]ext{frag(0, false, 0xdeadbeef)}, layers.IPProtocolTCP, []gopacket.SerializableLayer{tcp}},
		"ah":             {[]ext{ah(4)}, layers.IPProtocolICMPv6, echo},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := frame6(t, c.exts, c.proto, c.l4...)
			var p Parsed
			if r := p.DecodeDual(f); r != OK {
				t.Fatalf("DecodeDual: %v", r)
			}
			pk := decodeGo(f)
			ip := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			if p.Family != 6 || p.Src6 != IP6(ip.SrcIP) || p.Dst6 != IP6(ip.DstIP) || p.TTL != ip.HopLimit ||
				p.Src != (IP4{}) || p.Dst != (IP4{}) || p.Frag || p.L3Off != 14 || p.End != len(f) {
				t.Fatalf("network fields %+v, gopacket %+v", p, ip)
			}
			if p.Proto != uint8(c.proto) {
				t.Fatalf("proto %d want %d", p.Proto, c.proto)
			}
			// L4Off is where gopacket's transport layer starts. gopacket
			// stops at a fragment header, even an atomic one: decode what
			// follows it on its own.
			tp := pk
			if fl := pk.Layer(layers.LayerTypeIPv6Fragment); fl != nil {
				tp = gopacket.NewPacket(fl.LayerPayload(), c.proto.LayerType(), gopacket.Default)
			}
			var l4 gopacket.Layer
			switch c.proto {
			case layers.IPProtocolTCP:
				l4 = tp.Layer(layers.LayerTypeTCP)
				g := l4.(*layers.TCP)
				if p.SrcPort != uint16(g.SrcPort) || p.DstPort != uint16(g.DstPort) || p.TCPFlags != TCPFlagSYN|TCPFlagACK {
					t.Fatalf("tcp %+v", p)
				}
			case layers.IPProtocolUDP:
				l4 = tp.Layer(layers.LayerTypeUDP)
				g := l4.(*layers.UDP)
				if p.SrcPort != uint16(g.SrcPort) || p.DstPort != uint16(g.DstPort) {
					t.Fatalf("udp %+v", p)
				}
			case layers.IPProtocolICMPv6:
				l4 = tp.Layer(layers.LayerTypeICMPv6)
				g := tp.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
				if p.ICMPType != ICMPv6EchoRequest || p.ICMPCode != 0 || p.SrcPort != g.Identifier || p.DstPort != g.Identifier {
					t.Fatalf("icmpv6 %+v", p)
				}
			}
			if l4 == nil {
				t.Fatalf("gopacket found no transport layer: %v", pk)
			}
			if !bytes.Equal(p.L4(f)[:len(l4.LayerContents())], l4.LayerContents()) || len(f)-p.L4Off != len(l4.LayerContents())+len(l4.LayerPayload()) {
				t.Fatalf("L4Off %d does not start gopacket's transport layer", p.L4Off)
			}
			if !L4ChecksumValid6(p.L4(f), p.Src6, p.Dst6, p.Proto) {
				t.Fatal("gopacket's transport checksum does not verify with PseudoSum6")
			}
			if len(c.exts) > 0 && c.exts[0].Proto == ProtoFragment {
				if p.FragHdrOff != 14+IPv6Len {
					t.Fatalf("FragHdrOff %d", p.FragHdrOff)
				}
				fh, g := p.Fragment6(f), pk.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
				if fh.ID() != g.Identification || fh.FragOffset() != g.FragmentOffset || fh.MoreFragments() != g.MoreFragments {
					t.Fatalf("fragment header %v vs %+v", fh, g)
				}
			} else if p.FragHdrOff != 0 {
				t.Fatalf("FragHdrOff %d without a fragment header", p.FragHdrOff)
			}
			// Decode keeps its contract: OK means IPv4.
			var q Parsed
			if r := q.Decode(f); r != NotIP {
				t.Fatalf("Decode on IPv6: %v, want not-ip", r)
			}
		})
	}
}

// TestDecodeDualIPv4SameAsDecode: for IPv4 DecodeDual is Decode.
func TestDecodeDualIPv4SameAsDecode(t *testing.T) {
	ip := ipv4(layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 1, DstPort: 2}
	udp.SetNetworkLayerForChecksum(ip)
	f := build(t, eth(layers.EthernetTypeIPv4), ip, udp)
	var a, b Parsed
	b.Src6 = v6Src // stale from an earlier IPv6 frame in the same slot
	ra, rb := a.Decode(f), b.DecodeDual(f)
	if ra != OK || rb != OK || a != b || a.Family != 4 {
		t.Fatalf("Decode %v %+v, DecodeDual %v %+v", ra, a, rb, b)
	}
}

// TestDecode6Fragments: a first fragment parses its L4 header, a later one
// is Fragment with the fragment header's next header; the fragment header
// fields match gopacket's.
func TestDecode6Fragments(t *testing.T) {
	udp := &layers.UDP{SrcPort: 5000, DstPort: 5001}
	first := frame6(t, []ext{hbh(1), frag(0, true, 42)}, layers.IPProtocolUDP, udp, gopacket.Payload(make([]byte, 16)))
	var p Parsed
	if r := p.DecodeDual(first); r != OK || !p.Frag || p.SrcPort != 5000 || p.Proto != ProtoUDP || p.FragHdrOff != 14+40+8 {
		t.Fatalf("first fragment: %v %+v", r, p)
	}
	g := decodeGo(first).Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
	if fh := p.Fragment6(first); fh.ID() != g.Identification || !fh.MoreFragments() || fh.FragOffset() != 0 || !fh.IsFragment() {
		t.Fatalf("fragment header %x", fh)
	}
	later := frame6(t, []ext{frag(3, false, 42)}, layers.IPProtocolUDP, gopacket.Payload(make([]byte, 13)))
	if r := p.DecodeDual(later); r != Fragment || !p.Frag || p.Proto != ProtoUDP || p.L4Off != 14+40+8 || p.SrcPort != 0 {
		t.Fatalf("later fragment: %v %+v", r, p)
	}
	if fh := p.Fragment6(later); fh.FragOffset() != 3 || fh.MoreFragments() || fh.ID() != 42 {
		t.Fatalf("later fragment header %x", fh)
	}
	// A first fragment whose UDP length covers the whole datagram is fine.
	u := UDP(first[14+40+8+8:])
	u.SetLength(4000)
	if r := p.DecodeDual(first); r != OK {
		t.Fatalf("first fragment with the datagram's UDP length: %v", r)
	}
}

// TestDecode6Errors: every malformed or too long chain is its own result,
// and ESP and No Next Header end the walk.
func TestDecode6Errors(t *testing.T) {
	udp := func() []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{&layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("abc")}
	}
	nine := make([]ext, 9)
	for i := range nine {
		nine[i] = dstopts(1)
	}
	cases := map[string]struct {
		f     []byte
		want  Result
		proto uint8
	}{
		"8 headers":      {frame6(t, nine[:8], layers.IPProtocolUDP, udp()...), OK, ProtoUDP},
		"9 headers":      {frame6(t, nine, layers.IPProtocolUDP, udp()...), ErrIP6ExtCount, 0},
		"512 bytes":      {frame6(t, []ext{hbh(32), dstopts(32)}, layers.IPProtocolUDP, udp()...), OK, ProtoUDP},
		"520 bytes":      {frame6(t, []ext{hbh(32), dstopts(33)}, layers.IPProtocolUDP, udp()...), ErrIP6ExtLen, 0},
		"hbh second":     {frame6(t, []ext{dstopts(1), hbh(1)}, layers.IPProtocolUDP, udp()...), ErrIP6HopByHop, 0},
		"two frags":      {frame6(t, []ext{frag(0, false, 1), frag(0, false, 1)}, layers.IPProtocolUDP, udp()...), ErrIP6FragDup, 0},
		"ah 12 bytes":    {frame6(t, []ext{ah(1)}, layers.IPProtocolUDP, udp()...), ErrIP6AHLen, 0},
		"frag not 8":     {frame6(t, []ext{frag(0, true, 1)}, layers.IPProtocolUDP, udp()...), ErrIP6FragLen, 0},
		"esp":            {frame6(t, []ext{hbh(1)}, layers.IPProtocolESP, gopacket.Payload(make([]byte, 20))), OK, ProtoESP},
		"no next header": {frame6(t, []ext{routing(1)}, layers.IPProtocolNoNextHeader, gopacket.Payload("junk after")), OK, ProtoNoNext},
		"empty no-next":  {frame6(t, nil, layers.IPProtocolNoNextHeader), OK, ProtoNoNext},
	}
	cut := frame6(t, []ext{hbh(2)}, layers.IPProtocolUDP, udp()...)
	cut[18], cut[19] = 0, 4 // the payload ends inside the first header
	cases["chain cut"] = struct {
		f     []byte
		want  Result
		proto uint8
	}{cut, ErrIP6ExtShort, 0}
	// The header's length byte claims more than the datagram holds.
	long := frame6(t, []ext{dstopts(1)}, layers.IPProtocolUDP, udp()...)
	long[14+40+1] = 10
	cases["ext past payload"] = struct {
		f     []byte
		want  Result
		proto uint8
	}{long, ErrIP6ExtShort, 0}
	zero := frame6(t, nil, layers.IPProtocolUDP, udp()...)
	zero[14+40+6], zero[14+40+7] = 0, 0
	cases["udp zero checksum"] = struct {
		f     []byte
		want  Result
		proto uint8
	}{zero, ErrUDP6ZeroChecksum, 0}
	ver := frame6(t, nil, layers.IPProtocolUDP, udp()...)
	ver[14] = 0x45
	cases["version"] = struct {
		f     []byte
		want  Result
		proto uint8
	}{ver, ErrIPVersion, 0}
	plen := frame6(t, nil, layers.IPProtocolUDP, udp()...)
	plen[18]++
	cases["payload length"] = struct {
		f     []byte
		want  Result
		proto uint8
	}{plen, ErrIPTotalLen, 0}
	ulen := frame6(t, nil, layers.IPProtocolUDP, udp()...)
	ulen[14+40+5] = 7
	cases["udp length"] = struct {
		f     []byte
		want  Result
		proto uint8
	}{ulen, ErrUDPLength, 0}

	for name, c := range cases {
		var p Parsed
		r := p.DecodeDual(c.f)
		if r != c.want {
			t.Errorf("%s: %v, want %v", name, r, c.want)
			continue
		}
		if r == OK && p.Proto != c.proto {
			t.Errorf("%s: proto %d, want %d", name, p.Proto, c.proto)
		}
		if r.String() == "unknown" {
			t.Errorf("%s: result %d has no name", name, r)
		}
	}
}

// TestDecode6Truncations: every cut of a frame with a chain is an error,
// never a panic or OK.
func TestDecode6Truncations(t *testing.T) {
	f := frame6(t, []ext{hbh(1), routing(1), frag(0, false, 9), ah(2), dstopts(1)}, layers.IPProtocolTCP,
		&layers.TCP{SrcPort: 1, DstPort: 2, ACK: true})
	var p Parsed
	if r := p.DecodeDual(f); r != OK || p.Proto != ProtoTCP {
		t.Fatalf("full frame: %v %+v", r, p)
	}
	for n := 0; n < len(f); n++ {
		if r := p.DecodeDual(f[:n]); r == OK {
			t.Fatalf("cut to %d bytes decoded OK", n)
		}
	}
}

func TestResultNames(t *testing.T) {
	seen := map[string]bool{}
	for r := Result(0); r < numResults; r++ {
		n := r.String()
		if n == "" || n == "unknown" || seen[n] {
			t.Fatalf("result %d: name %q missing or repeated", r, n)
		}
		seen[n] = true
	}
	if NumResults != int(numResults) {
		t.Fatal("NumResults")
	}
}

func TestDecode6Allocs(t *testing.T) {
	f := frame6(t, []ext{hbh(1), frag(0, false, 1)}, layers.IPProtocolUDP, &layers.UDP{SrcPort: 1, DstPort: 2})
	var p Parsed
	if a := testing.AllocsPerRun(1000, func() { p.DecodeDual(f) }); a != 0 {
		t.Fatalf("DecodeDual on IPv6 allocates %v per run", a)
	}
}

// TestIPv6View reads and writes the fixed header against gopacket.
func TestIPv6View(t *testing.T) {
	f := frame6(t, nil, layers.IPProtocolUDP, &layers.UDP{SrcPort: 1, DstPort: 2})
	h := IPv6(f[14:])
	g := decodeGo(f).Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if h.Version() != 6 || h.TrafficClass() != g.TrafficClass || h.FlowLabel() != g.FlowLabel ||
		h.PayloadLength() != g.Length || h.NextHeader() != uint8(g.NextHeader) || h.HopLimit() != g.HopLimit ||
		h.Src() != IP6(g.SrcIP) || h.Dst() != IP6(g.DstIP) {
		t.Fatalf("view %x vs gopacket %+v", []byte(h[:40]), g)
	}
	var n Network = h
	if n.TransportProtocol() != ProtoUDP || n.PayloadLen() != 8 || !bytes.Equal(n.SrcBytes(), v6Src[:]) || !bytes.Equal(n.DstBytes(), v6Dst[:]) {
		t.Fatal("Network view of IPv6")
	}
	h.SetTrafficClass(0x2e)
	h.SetFlowLabel(0xfffff)
	h.SetHopLimit(2)
	h.DecHopLimit()
	h.SetSrc(MustIP6("2001:db8::1"))
	h.SetDst(MustIP6("fe80::2"))
	h.SetNextHeader(ProtoTCP)
	h.SetPayloadLength(8)
	g = decodeGo(f).Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if g.Version != 6 || g.TrafficClass != 0x2e || g.FlowLabel != 0xfffff || g.HopLimit != 1 ||
		!g.SrcIP.Equal(net.ParseIP("2001:db8::1")) || !g.DstIP.Equal(net.ParseIP("fe80::2")) || g.NextHeader != layers.IPProtocolTCP || g.Length != 8 {
		t.Fatalf("after setters gopacket sees %+v", g)
	}
	e := make(IPv6, IPv6Len)
	e.Encode(IPv6Fields{TrafficClass: 0xb8, FlowLabel: 0x12345, PayloadLength: 8, NextHeader: ProtoUDP, HopLimit: 63, Src: v6Src, Dst: v6Dst})
	want := build(t, ipv6(layers.IPProtocolUDP))
	want[4], want[5] = 0, 8
	if !bytes.Equal(e, want[:40]) {
		t.Fatalf("Encode:\n got %x\nwant %x", []byte(e), want[:40])
	}
	var n4 Network = IPv4(build(t, ipv4(layers.IPProtocolTCP), gopacket.Payload("abcd")))
	if n4.TransportProtocol() != ProtoTCP || n4.PayloadLen() != 4 || len(n4.SrcBytes()) != 4 || n4.DstBytes()[0] != 172 {
		t.Fatal("Network view of IPv4")
	}
}

// FuzzDecode6: no input panics; what DecodeDual accepts has consistent
// offsets; Decode keeps answering not-ip for IPv6 and agrees with
// DecodeDual on everything else.
func FuzzDecode6(f *testing.F) {
	f.Add(frame6(f, []ext{hbh(1), routing(1), dstopts(1)}, layers.IPProtocolTCP, &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true}))
	f.Add(frame6(f, []ext{frag(0, true, 7)}, layers.IPProtocolUDP, &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload(make([]byte, 8))))
	f.Add(frame6(f, []ext{frag(5, false, 7)}, layers.IPProtocolUDP, gopacket.Payload(make([]byte, 8))))
	f.Add(frame6(f, []ext{ah(2)}, layers.IPProtocolICMPv6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, &layers.ICMPv6Echo{Identifier: 5}))
	f.Add(frame6(f, nil, layers.IPProtocolICMPv6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)},
		&layers.ICMPv6NeighborSolicitation{TargetAddress: net.IP(v6Dst[:]), Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: []byte{1, 2, 3, 4, 5, 6}}}}))
	f.Add(frame6(f, []ext{hbh(1)}, layers.IPProtocolESP, gopacket.Payload("esp")))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p, q Parsed
		r := p.DecodeDual(b)
		if r.String() == "unknown" {
			t.Fatalf("result %d has no name", r)
		}
		rq := q.Decode(b)
		if l2, ok := ParseL2(b); ok && l2.EtherType == EtherTypeIPv6 {
			if rq != NotIP {
				t.Fatalf("Decode on IPv6: %v", rq)
			}
		} else if rq != r || (r == OK && p != q) {
			t.Fatalf("IPv4: Decode %v %+v, DecodeDual %v %+v", rq, q, r, p)
		}
		if (r != OK && r != Fragment) || p.Family != 6 {
			return
		}
		if p.L3Off+IPv6Len > p.L4Off || p.L4Off > p.End || p.End > len(b) || p.L4Off-p.L3Off-IPv6Len > IPv6MaxExtBytes {
			t.Fatalf("offsets out of bounds: %+v len %d", p, len(b))
		}
		if p.FragHdrOff != 0 && (p.FragHdrOff < p.L3Off+IPv6Len || p.FragHdrOff+IPv6FragmentLen > p.L4Off) {
			t.Fatalf("fragment header at %d outside the chain: %+v", p.FragHdrOff, p)
		}
		if r == Fragment && (p.FragHdrOff == 0 || p.Fragment6(b).FragOffset() == 0) {
			t.Fatalf("Fragment without a later fragment header: %+v", p)
		}
		_ = p.IP6(b).HopLimit()
		if r == OK {
			switch p.Proto {
			case ProtoTCP:
				TCP(p.L4(b)).WindowScale()
			case ProtoICMPv6:
				c := ICMPv6(p.L4(b))
				if (c.Type() == ICMPv6NeighborSolicit || c.Type() == ICMPv6NeighborAdvert) && len(c) >= NDMinLen {
					c.NDLinkAddr(NDOptSourceLinkAddr)
				}
			}
		}
	})
}

func BenchmarkDecode6(b *testing.B) {
	for _, c := range []struct {
		name string
		exts []ext
	}{{"plain", nil}, {"hbh+frag", []ext{hbh(1), frag(0, false, 1)}}} {
		b.Run(c.name, func(b *testing.B) {
			f := frame6(b, c.exts, layers.IPProtocolUDP, &layers.UDP{SrcPort: 1, DstPort: 2})
			var p Parsed
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p.DecodeDual(f)
			}
		})
	}
}
