package datapath

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/packet"
)

// sllaOther is a source link-layer address that differs from the
// solicitation's Ethernet source, so that a test sees which one the
// answer went to.
var sllaOther = packet.MustMAC("02:00:00:00:00:99")

// nsWithSLLA is nsFrame with the source link-layer option sllaOther.
func nsWithSLLA(t testing.TB, s nsSpec) []byte {
	t.Helper()
	s.hop = 255
	if s.dstMAC == (packet.MAC{}) {
		s.dstMAC = s.dst.MulticastMAC()
	}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: ipOf(s.target),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: sllaOther[:]}}}
	return v6Frame(t, macDR, s.dstMAC, s.src, s.dst, s.hop, nil, layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}, ns)
}

// TestNDAnswer: a valid solicitation is turned into the advertisement RFC
// 4861 §7.2.4 asks for, checked field by field by gopacket.
func TestNDAnswer(t *testing.T) {
	hbhNS := v6Frame(t, macDR, v6Router.SolicitedNode().MulticastMAC(), v6DR, v6Router.SolicitedNode(), 255, []v6Ext{v6HopByHop},
		layers.IPProtocolICMPv6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)},
		&layers.ICMPv6NeighborSolicitation{TargetAddress: ipOf(v6Router)})
	for _, tc := range []struct {
		name      string
		frame     []byte
		router    bool
		ethDst    packet.MAC
		ipDst     packet.IP6
		solicited bool
	}{
		{"multicast, with SLLA", nsWithSLLA(t, nsSpec{src: v6DR, dst: v6Router.SolicitedNode(), target: v6Router}), true, sllaOther, v6DR, true},
		{"unicast NUD, no SLLA", nsFrame(t, nsSpec{src: v6DR, dst: v6Router, target: v6Router}), true, macDR, v6DR, true},
		{"from a link-local address", nsWithSLLA(t, nsSpec{src: v6DRLL, dst: v6Router.SolicitedNode(), target: v6Router}), true, sllaOther, v6DRLL, true},
		{"DAD", nsFrame(t, nsSpec{src: packet.IP6{}, dst: v6Router.SolicitedNode(), target: v6Router}), true, allNodesMAC, allNodes, false},
		{"hop-by-hop header", hbhNS, true, macDR, v6DR, true},
		{"NAT address (not a router's)", nsFrame(t, nsSpec{src: v6DR, dst: v6NAT.SolicitedNode(), target: v6NAT}), false, macDR, v6DR, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newCtx6(t)
			c := x.load(t, tc.frame, 0)
			ns, why := parseNS(x.pkt.Frame(), &c.parsed)
			if why != DropNone {
				t.Fatalf("parseNS: %v", why)
			}
			target := v6Router
			if !tc.router {
				target = v6NAT
			}
			if ns.Target != target {
				t.Fatalf("target %v, want %v", ns.Target, target)
			}
			out, why := x.h.w.ndReply(c, &ns, macGR, tc.router)
			if why != DropNone {
				t.Fatalf("ndReply: %v", why)
			}
			if len(out) != 14+40+32 || x.pkt.Len != len(out) {
				t.Fatalf("NA is %d bytes (pkt.Len %d), want 86", len(out), x.pkt.Len)
			}
			if c.parsed.Family != 6 || c.parsed.ICMPType != packet.ICMPv6NeighborAdvert || c.parsed.Dst6 != tc.ipDst {
				t.Fatalf("parsed after: %+v", c.parsed)
			}
			pk, ip, icmp := gopacketICMP6(t, out)
			eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if packet.MAC(eth.SrcMAC) != macGR || packet.MAC(eth.DstMAC) != tc.ethDst || eth.EthernetType != layers.EthernetTypeIPv6 {
				t.Fatalf("Ethernet %v -> %v type %v, want %v -> %v", eth.SrcMAC, eth.DstMAC, eth.EthernetType, macGR, tc.ethDst)
			}
			if !ip.SrcIP.Equal(ipOf(target)) || !ip.DstIP.Equal(ipOf(tc.ipDst)) || ip.HopLimit != 255 ||
				ip.NextHeader != layers.IPProtocolICMPv6 || ip.Length != 32 || ip.TrafficClass != 0 || ip.FlowLabel != 0 {
				t.Fatalf("IPv6 %v -> %v hop %d next %v len %d", ip.SrcIP, ip.DstIP, ip.HopLimit, ip.NextHeader, ip.Length)
			}
			if icmp.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0) {
				t.Fatalf("ICMPv6 %v", icmp.TypeCode)
			}
			na, ok := pk.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
			if !ok {
				t.Fatalf("no NA in %v", pk)
			}
			if na.Router() != tc.router || na.Solicited() != tc.solicited || !na.Override() || !na.TargetAddress.Equal(ipOf(target)) {
				t.Fatalf("NA R %v S %v O %v target %v", na.Router(), na.Solicited(), na.Override(), na.TargetAddress)
			}
			if len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress || !bytes.Equal(na.Options[0].Data, macGR[:]) {
				t.Fatalf("NA options %v, want target link-layer %v", na.Options, macGR)
			}
		})
	}
}

// TestNSInvalid: every RFC 4861 §7.1.1 check (and the two this gateway
// adds) refuses a solicitation that breaks it, as nd-invalid; what is no
// solicitation at all is nd. Each case starts from a valid solicitation
// and breaks one thing, so a missing check lets it through.
func TestNSInvalid(t *testing.T) {
	sn := v6Router.SolicitedNode()
	valid := nsSpec{src: v6DR, dst: sn, target: v6Router}
	nsHdr := func() *layers.ICMPv6 {
		return &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	}
	withOpts := func(opts []byte) []byte {
		return v6Frame(t, macDR, sn.MulticastMAC(), v6DR, sn, 255, nil, layers.IPProtocolICMPv6, nsHdr(),
			&layers.ICMPv6NeighborSolicitation{TargetAddress: ipOf(v6Router)}, gopacket.Payload(opts))
	}
	edit := func(f []byte, fn func([]byte)) []byte {
		f = append([]byte(nil), f...)
		fn(f)
		return f
	}
	base := nsFrame(t, valid)
	if _, why := parseNS(base, decode6(t, base)); why != DropNone {
		t.Fatalf("the base case is refused: %v", why)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  Drop
	}{
		{"hop limit 254", nsFrame(t, nsSpec{src: v6DR, dst: sn, target: v6Router, hop: 254}), DropNDInvalid},
		{"hop limit 1", nsFrame(t, nsSpec{src: v6DR, dst: sn, target: v6Router, hop: 1}), DropNDInvalid},
		{"code 1", edit(base, func(f []byte) { f[14+40+1] = 1; fixICMP6(f) }), DropNDInvalid},
		{"bad checksum", edit(base, func(f []byte) { f[14+40+2] ^= 0x40 }), DropNDInvalid},
		{"20 bytes", v6Frame(t, macDR, sn.MulticastMAC(), v6DR, sn, 255, nil, layers.IPProtocolICMPv6, nsHdr(), gopacket.Payload(make([]byte, 16))), DropNDInvalid},
		{"multicast target", nsFrame(t, nsSpec{src: v6DR, dst: allNodes, target: allNodes}), DropNDInvalid},
		{"zero-length option", withOpts([]byte{1, 0, 0, 0, 0, 0, 0, 0}), DropNDInvalid},
		{"option past the end", withOpts([]byte{1, 2, 0, 0, 0, 0, 0, 0}), DropNDInvalid},
		{"truncated option", withOpts([]byte{14}), DropNDInvalid},
		{"DAD to the target itself", nsFrame(t, nsSpec{src: packet.IP6{}, dst: v6Router, target: v6Router}), DropNDInvalid},
		{"DAD with SLLA", nsFrame(t, nsSpec{src: packet.IP6{}, dst: sn, target: v6Router, slla: true}), DropNDInvalid},
		{"to another group", nsFrame(t, nsSpec{src: v6DR, dst: packet.MustIP6("fd98::77").SolicitedNode(), target: v6Router}), DropNDInvalid},
		{"to another unicast address", nsFrame(t, nsSpec{src: v6DR, dst: v6DR, target: v6Router}), DropNDInvalid},
		{"atomic fragment", v6Frame(t, macDR, sn.MulticastMAC(), v6DR, sn, 255, []v6Ext{v6FragHdr(0, false)}, layers.IPProtocolICMPv6,
			nsHdr(), &layers.ICMPv6NeighborSolicitation{TargetAddress: ipOf(v6Router)}), DropNDInvalid},
		{"first fragment", v6Frame(t, macDR, sn.MulticastMAC(), v6DR, sn, 255, []v6Ext{v6FragHdr(0, true)}, layers.IPProtocolICMPv6,
			nsHdr(), &layers.ICMPv6NeighborSolicitation{TargetAddress: ipOf(v6Router)}), DropNDInvalid},
		{"an advertisement", v6Frame(t, macDR, macGR, v6DR, v6Router, 255, nil, layers.IPProtocolICMPv6,
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)},
			&layers.ICMPv6NeighborAdvertisement{TargetAddress: ipOf(v6DR)}), DropND},
		{"an echo request", v6Frame(t, macDR, macGR, v6DR, v6Router, 255, nil, layers.IPProtocolICMPv6,
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}, &layers.ICMPv6Echo{Identifier: 1}), DropND},
		{"UDP", v6Frame(t, macDR, macGR, v6DR, v6Router, 255, nil, layers.IPProtocolUDP, &layers.UDP{SrcPort: 1, DstPort: 2}), DropND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p packet.Parsed
			if r := p.DecodeDual(tc.frame); r != packet.OK {
				t.Fatalf("DecodeDual: %v", r)
			}
			if _, why := parseNS(tc.frame, &p); why != tc.want {
				t.Fatalf("parseNS: %v, want %v", why, tc.want)
			}
		})
	}
	// IPv4 (ARP's family) is not an NS either.
	var p packet.Parsed
	v4 := egressInner(t)
	if p.DecodeDual(v4) != packet.OK {
		t.Fatal("IPv4 frame does not decode")
	}
	if _, why := parseNS(v4, &p); why != DropND {
		t.Fatalf("IPv4: %v, want nd", why)
	}
	if DropNDInvalid.String() != "nd-invalid" || DropND.String() != "nd" {
		t.Fatalf("names %q %q", DropNDInvalid, DropND)
	}
}

// egressInner is an IPv4 UDP frame from the seed VM.
func egressInner(t testing.TB) []byte {
	t.Helper()
	return v4Frame(t, net.IP{10, 199, 100, 10}, net.IP{172, 31, 6, 24})
}

// v4Frame is a small IPv4 UDP frame built by gopacket.
func v4Frame(t testing.TB, src, dst net.IP) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 63, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst}
	udp := &layers.UDP{SrcPort: 1, DstPort: 2}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	b := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: macDR[:], DstMAC: macGR[:], EthernetType: layers.EthernetTypeIPv4}, ip, udp); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), b.Bytes()...)
}

// TestNDTagged: an 802.1Q-tagged solicitation (the external side passes
// tagged ARP; whoever calls parseNS decides on tags) is answered with the
// link header kept, tag and all.
func TestNDTagged(t *testing.T) {
	f := nsFrame(t, nsSpec{src: v6DR, dst: v6Router.SolicitedNode(), target: v6Router})
	tagged := append(append(append([]byte(nil), f[:12]...), 0x81, 0x00, 0x00, 0x07), f[12:]...)
	x := newCtx6(t)
	c := x.load(t, tagged, 0)
	if !c.parsed.Tagged || c.parsed.L3Off != 18 {
		t.Fatalf("setup: %+v", c.parsed.L2)
	}
	ns, why := parseNS(x.pkt.Frame(), &c.parsed)
	if why != DropNone {
		t.Fatal(why)
	}
	out, why := x.h.w.ndReply(c, &ns, macGR, true)
	if why != DropNone || len(out) != 18+72 {
		t.Fatalf("ndReply: %v, %d bytes", why, len(out))
	}
	pk, ip, _ := gopacketICMP6(t, out)
	tag, ok := pk.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	if !ok || tag.VLANIdentifier != 7 || tag.Type != layers.EthernetTypeIPv6 || !ip.SrcIP.Equal(ipOf(v6Router)) || !ip.DstIP.Equal(ipOf(v6DR)) {
		t.Fatalf("tagged NA: %v", pk)
	}
	if _, ok := pk.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement); !ok {
		t.Fatalf("no NA: %v", pk)
	}
}

// TestNDNoRoom: an advertisement longer than the solicitation in a
// buffer without tailroom is refused as no-headroom, not written past it.
func TestNDNoRoom(t *testing.T) {
	f := nsFrame(t, nsSpec{src: v6DR, dst: v6Router, target: v6Router}) // 78 bytes, the NA 86
	x := newCtx6(t)
	c := x.load(t, f, headroom+len(f))
	ns, why := parseNS(x.pkt.Frame(), &c.parsed)
	if why != DropNone {
		t.Fatal(why)
	}
	if _, why := x.h.w.ndReply(c, &ns, macGR, true); why != DropHeadroom {
		t.Fatalf("ndReply without room: %v, want no-headroom", why)
	}
}

// TestNDAllocs: parsing and answering allocate nothing.
func TestNDAllocs(t *testing.T) {
	f := nsWithSLLA(t, nsSpec{src: v6DR, dst: v6Router.SolicitedNode(), target: v6Router})
	buf := make([]byte, 256)
	var p packet.Parsed
	allocs := testing.AllocsPerRun(200, func() {
		copy(buf, f)
		fr := buf[:len(f)]
		if p.DecodeDual(fr) != packet.OK {
			t.Fatal("decode")
		}
		ns, why := parseNS(fr, &p)
		if why != DropNone || putNA(buf, p.L3Off, &ns, macGR, true) == 0 {
			t.Fatal("answer")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per NS", allocs)
	}
}

// FuzzParseNS: any frame either is refused with an ND drop reason or
// yields an advertisement that decodes, verifies and names the target.
func FuzzParseNS(f *testing.F) {
	f.Add(nsWithSLLA(f, nsSpec{src: v6DR, dst: v6Router.SolicitedNode(), target: v6Router}))
	f.Add(nsFrame(f, nsSpec{src: packet.IP6{}, dst: v6Router.SolicitedNode(), target: v6Router}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p packet.Parsed
		if p.DecodeDual(frame) != packet.OK {
			return
		}
		ns, why := parseNS(frame, &p)
		switch why {
		case DropND, DropNDInvalid:
			return
		case DropNone:
		default:
			t.Fatalf("reason %v", why)
		}
		if p.TTL != 255 || ns.Target.IsMulticast() || p.Frag || p.FragHdrOff != 0 {
			t.Fatalf("accepted hop %d target %v", p.TTL, ns.Target)
		}
		out := make([]byte, len(frame)+naLen)
		copy(out, frame)
		n := putNA(out, p.L3Off, &ns, macGR, true)
		if n != p.L3Off+naLen {
			t.Fatalf("putNA %d", n)
		}
		var q packet.Parsed
		if r := q.DecodeDual(out[:n]); r != packet.OK {
			t.Fatalf("NA decodes as %v", r)
		}
		c := packet.ICMPv6(out[q.L4Off:q.End])
		if q.Proto != packet.ProtoICMPv6 || c.Type() != packet.ICMPv6NeighborAdvert || c.NDTarget() != ns.Target ||
			!packet.L4ChecksumValid6(c, q.Src6, q.Dst6, packet.ProtoICMPv6) {
			t.Fatalf("NA %x", out[:n])
		}
	})
}
