package bpf

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/internal/pkttest"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// The IPv6 fast path against flow.Apply6: every forwarded frame must be
// the bytes Apply6 makes of the same input, over both underlay families.

var (
	v6VM      = packet.MustIP6("fd00:10:199:100::10")
	v6Server  = packet.MustIP6("2001:db8:31:6::24")
	v6SNAT    = packet.MustIP6("2001:db8:123::123")
	v6VTEP    = packet.MustIP6("fd99::5:23")
	v6Chassis = packet.MustIP6("fd99::1:21")
	v6Rogue   = packet.MustIP6("fd99::66")
	macDR     = packet.MAC(seedtest.MACDRJoin)
	macJoin   = packet.MAC(seedtest.MACGRJoin)
	macExt    = packet.MAC(seedtest.MACGRExt)
	macNext   = packet.MAC(seedtest.MACNextHop)
	macVM     = packet.MAC(seedtest.MACVM)
	macGW     = packet.MAC(seedtest.MACGWUnder)
	macChas   = packet.MAC(seedtest.MACHV)
)

// inner6 builds eth/IPv6[/ext...]/L4 with gopacket (pkttest.IPv6Frame):
// dstOpts destination options headers of 8 bytes, then an atomic
// fragment header if frag. ICMPv6: sport is the echo id, typ the type.
type inner6 struct {
	src, dst     packet.MAC
	sip, dip     packet.IP6
	hop, proto   uint8
	sport, dport uint16
	icmpType     uint8
	tcpFlags     string // "S", "F", "R" or ""
	dstOpts      int    // destination options headers (8 bytes each)
	frag         bool
	payload      int
	zeroUDPCsum  bool
}

func (f inner6) build(t testing.TB) []byte {
	t.Helper()
	var exts []pkttest.Ext
	for i := 0; i < f.dstOpts; i++ {
		exts = append(exts, pkttest.DstOpts(1))
	}
	if f.frag {
		exts = append(exts, pkttest.Fragment(0, false, 0))
	}
	var l4 []gopacket.SerializableLayer
	switch f.proto {
	case packet.ProtoTCP:
		l4 = append(l4, &layers.TCP{SrcPort: layers.TCPPort(f.sport), DstPort: layers.TCPPort(f.dport), Seq: 1000, Ack: 2000, ACK: true, Window: 512,
			SYN: f.tcpFlags == "S", FIN: f.tcpFlags == "F", RST: f.tcpFlags == "R"})
	case packet.ProtoUDP:
		l4 = append(l4, &layers.UDP{SrcPort: layers.UDPPort(f.sport), DstPort: layers.UDPPort(f.dport)})
	case packet.ProtoICMPv6:
		typ := f.icmpType
		if typ == 0 {
			typ = layers.ICMPv6TypeEchoRequest
		}
		l4 = append(l4, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}, &layers.ICMPv6Echo{Identifier: f.sport, SeqNumber: 7})
	}
	n := f.payload
	if n == 0 {
		n = 23
	}
	ip := &layers.IPv6{HopLimit: f.hop, NextHeader: layers.IPProtocol(f.proto), SrcIP: net.IP(f.sip[:]), DstIP: net.IP(f.dip[:])}
	out := pkttest.IPv6Frame(t, f.src[:], f.dst[:], ip, exts, append(l4, gopacket.Payload(bytes.Repeat([]byte{'x'}, n)))...)
	if f.zeroUDPCsum && f.proto == packet.ProtoUDP {
		o := packet.EthernetLen + packet.IPv6Len + 8*len(exts) + 6
		out[o], out[o+1] = 0, 0
	}
	return out
}

// wrap4 and wrap6 put an inner frame in Geneve from a chassis to us.
func wrap4(t testing.TB, src packet.IP4, inner []byte) []byte {
	return seedtest.Geneve(t, net.IP(src[:]), seedtest.VTEP, 1, 1, 2, inner)
}

func wrap6(t testing.TB, src packet.IP6, inner []byte) []byte {
	t.Helper()
	return pkttest.GeneveIPv6(t, macChas[:], macGW[:], net.IP(src[:]), net.IP(v6VTEP[:]), 40404, 1, 1, 2, inner)
}

type fp6Env struct {
	o  *Objects
	fp *FastPath
}

func newFP6(t testing.TB) *fp6Env {
	t.Helper()
	needRoot(t)
	o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP)), VTEP6: v6VTEP.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	if err := o.AddNATAddr(v6SNAT.Addr()); err != nil {
		t.Fatal(err)
	}
	fp := o.FastPath()
	for _, port := range []flow.Port{flow.Underlay, flow.External} {
		if err := fp.SetPort(port, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := fp.SetVTEPs([]packet.IP4{packet.IP4(seedtest.Chassis.To4())}); err != nil {
		t.Fatal(err)
	}
	if err := fp.SetVTEPs6([]packet.IP6{v6Chassis}); err != nil {
		t.Fatal(err)
	}
	return &fp6Env{o: o, fp: fp}
}

func (e *fp6Env) stats(t testing.TB) Stats {
	t.Helper()
	s, err := e.o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var outer4Reply = geneve.EncapParams{SrcMAC: macGW, DstMAC: macChas,
	Src: packet.IP4(seedtest.VTEP.To4()), Dst: packet.IP4(seedtest.Chassis.To4()), TTL: 64, DF: true, SrcPort: 51234,
	VNI: 9, InPort: 1, OutPort: 2, Checksum: true}

var outer6Reply = geneve.EncapParams6{SrcMAC: macGW, DstMAC: macChas, Src: v6VTEP, Dst: v6Chassis,
	HopLimit: 64, SrcPort: 51234, VNI: 9, InPort: 1, OutPort: 2, FlowLabel: 0xabcde}

// actions6 is the seed's shape in IPv6: egress NAT66s one hop out the
// external port; the reply un-NATs, two hops, encap (over the IPv4
// underlay unless u6).
func actions6(proto uint8, u6 bool) (eg, rep flow.Action6) {
	sp, dp := uint16(40000), uint16(5201)
	if proto == packet.ProtoICMPv6 {
		sp, dp = 77, 77
	}
	eg = flow.Action6{
		Key:     flow.Key6{InPort: flow.Underlay, VNI: 1, InnerDst: macJoin, Src: v6VM, Dst: v6Server, SrcPort: sp, DstPort: dp, Proto: proto},
		OutPort: flow.External, Decap: true, EthSrc: macExt, EthDst: macNext, HopDec: 1,
		NATSrc: v6SNAT, NATDst: v6Server, NATSrcPort: sp, NATDstPort: dp, MaxLen: 1500,
		Conns: [2]flow.Conn{{Dir: conntrack.DirOrig}, {Dir: conntrack.DirOrig}},
	}
	rep = flow.Action6{
		Key:     flow.Key6{InPort: flow.External, Src: v6Server, Dst: v6SNAT, SrcPort: dp, DstPort: sp, Proto: proto},
		OutPort: flow.Underlay, EthSrc: macDR, EthDst: macVM, HopDec: 2,
		NATSrc: v6Server, NATDst: v6VM, NATSrcPort: dp, NATDstPort: sp,
		Encap: true, Outer: outer4Reply,
		Conns: [2]flow.Conn{{Dir: conntrack.DirReply}, {Dir: conntrack.DirReply}},
	}
	if u6 {
		rep.Underlay6, rep.Outer6, rep.Outer = true, outer6Reply, geneve.EncapParams{}
	}
	return eg, rep
}

// apply6 is what software makes of inner (the decapsulated frame).
func apply6(t testing.TB, a *flow.Action6, inner []byte) []byte {
	t.Helper()
	const room = 128
	buf := make([]byte, room+len(inner))
	copy(buf[room:], inner)
	var p packet.Parsed
	if r := p.DecodeDual(buf[room:]); r != packet.OK || p.Family != 6 {
		t.Fatalf("decode: %v", r)
	}
	if !a.Applicable(p.TTL, p.End-p.L3Off, room) {
		t.Fatal("not applicable")
	}
	off, n := flow.Apply6(a, buf, room, len(inner), &p)
	return buf[off : off+n]
}

func (e *fp6Env) wantForward(t *testing.T, in, want []byte, hit func(Stats) uint64) {
	t.Helper()
	before := hit(e.stats(t))
	ret, out := runFP(t, e.o.Program(), in)
	if ret != xdpRedirectVerdict {
		t.Fatalf("verdict %d, want XDP_REDIRECT; fast path %+v", ret, e.stats(t).FastPath)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("XDP output differs from flow.Apply6\n xdp %x\n  go %x", out, want)
	}
	if d := hit(e.stats(t)) - before; d != 1 {
		t.Fatalf("hit counter moved by %d", d)
	}
}

// TestFastPath6EqualsApply6: egress (decap from either underlay, NAT66)
// and reply (NAT66, encap over either underlay) for UDP, TCP and ICMPv6
// echo, byte for byte against flow.Apply6; the outer checksum is checked
// independently too.
func TestFastPath6EqualsApply6(t *testing.T) {
	e := newFP6(t)
	for _, proto := range []uint8{packet.ProtoUDP, packet.ProtoTCP, packet.ProtoICMPv6} {
		for _, u6 := range []bool{false, true} {
			eg, rep := actions6(proto, u6)
			if err := e.fp.Install6(&eg); err != nil {
				t.Fatal(err)
			}
			if err := e.fp.Install6(&rep); err != nil {
				t.Fatal(err)
			}
			name := map[uint8]string{packet.ProtoUDP: "udp", packet.ProtoTCP: "tcp", packet.ProtoICMPv6: "icmp6"}[proto]
			if u6 {
				name += "/underlay6"
			} else {
				name += "/underlay4"
			}
			t.Run(name+"/egress", func(t *testing.T) {
				inner := inner6{src: macDR, dst: macJoin, sip: v6VM, dip: v6Server, hop: 64, proto: proto,
					sport: eg.Key.SrcPort, dport: eg.Key.DstPort, icmpType: layers.ICMPv6TypeEchoRequest}.build(t)
				in := wrap4(t, packet.IP4(seedtest.Chassis.To4()), inner)
				if u6 {
					in = wrap6(t, v6Chassis, inner)
				}
				e.wantForward(t, in, apply6(t, &eg, inner), func(s Stats) uint64 { return s.FastPath.HitEgress6.Packets })
			})
			t.Run(name+"/reply", func(t *testing.T) {
				in := inner6{src: macNext, dst: macExt, sip: v6Server, dip: v6SNAT, hop: 60, proto: proto,
					sport: rep.Key.SrcPort, dport: rep.Key.DstPort, icmpType: layers.ICMPv6TypeEchoReply, payload: 333}.build(t)
				want := apply6(t, &rep, in)
				var d geneve.Decapped
				if r := geneve.DecapDual(want, &d); r != geneve.OK || d.IPv6 != u6 || d.UDPChecksum == 0 || !geneve.VerifyUDPChecksum(want, &d) {
					t.Fatalf("software's own output: %v ipv6 %v csum %#x", r, d.IPv6, d.UDPChecksum)
				}
				e.wantForward(t, in, want, func(s Stats) uint64 { return s.FastPath.HitIngress6.Packets })
			})
		}
	}
	// Extension headers are walked and forwarded as they are (egress:
	// no encap, so no checksum to derive over them).
	for _, u6 := range []bool{false, true} {
		eg, _ := actions6(packet.ProtoTCP, u6)
		t.Run(map[bool]string{false: "underlay4", true: "underlay6"}[u6]+"/egress-ext-headers", func(t *testing.T) {
			inner := inner6{src: macDR, dst: macJoin, sip: v6VM, dip: v6Server, hop: 64, proto: packet.ProtoTCP,
				sport: eg.Key.SrcPort, dport: eg.Key.DstPort, dstOpts: 3}.build(t)
			in := wrap4(t, packet.IP4(seedtest.Chassis.To4()), inner)
			if u6 {
				in = wrap6(t, v6Chassis, inner)
			}
			e.wantForward(t, in, apply6(t, &eg, inner), func(s Stats) uint64 { return s.FastPath.HitEgress6.Packets })
		})
	}
	// Read back: what was installed is what Lookup6 returns.
	_, rep := actions6(packet.ProtoUDP, true)
	got, err := e.fp.Lookup6(rep.Key)
	if err != nil {
		t.Fatal(err)
	}
	rep.Conns = got.Action.Conns
	// Two hits: the IPv4-underlay reply, then this one (same key; a
	// replacing install keeps the counters).
	if got.Action != rep || got.Packets != 2 {
		t.Fatalf("Lookup6\n got %+v (%d packets)\nwant %+v", got.Action, got.Packets, rep)
	}
	n := 0
	for f, err := range e.fp.Flows6() {
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]uint64{false: 2, true: 4}[f.Action.Key.Proto == packet.ProtoTCP && f.Action.Decap]; f.Packets != want {
			t.Errorf("flow %+v: %d packets, want %d", f.Action.Key, f.Packets, want)
		}
		n++
	}
	if n != 6 {
		t.Fatalf("Flows6 walked %d flows, want 6", n)
	}
}
