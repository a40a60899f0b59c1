package bpf

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// wantPunt6 checks that frame leaves xdp_gw unchanged on the steering
// path (XDP_PASS: no socket in these tests) with reason counted once.
func (e *fp6Env) wantPunt6(t *testing.T, frame []byte, why PuntReason) {
	t.Helper()
	before := e.stats(t)
	in := append([]byte(nil), frame...)
	ret, out := runFP(t, e.o.Program(), in)
	after := e.stats(t)
	if ret != xdpPass {
		t.Fatalf("verdict %d, want XDP_PASS (steered, no socket)", ret)
	}
	if !bytes.Equal(out, frame) {
		t.Fatal("punted frame was changed")
	}
	if d := after.FastPath.Punts[why].Packets - before.FastPath.Punts[why].Packets; d != 1 {
		t.Fatalf("punts[%v] moved by %d; after %+v", why, d, after.FastPath)
	}
	if d := after.NoSocket.Packets - before.NoSocket.Packets; d != 1 {
		t.Fatalf("punted frame did not continue to the steering (NoSocket moved by %d)", d)
	}
}

// TestFastPath6Punts: every IPv6 packet the fast path does not forward
// goes on to software unchanged, counted under a named reason.
func TestFastPath6Punts(t *testing.T) {
	e := newFP6(t)
	udpEg, udpRep := actions6(packet.ProtoUDP, false)
	tcpEg, _ := actions6(packet.ProtoTCP, true)
	mEg := udpEg // a flow whose destination is a martian
	mEg.Key.Dst, mEg.NATDst = packet.MustIP6("ff0e::1"), packet.MustIP6("ff0e::1")
	mRep := udpRep // a flow whose source is a martian
	mRep.Key.Src, mRep.NATSrc = packet.MustIP6("fe80::1"), packet.MustIP6("fe80::1")
	for _, a := range []*flowAction6{&udpEg, &udpRep, &tcpEg, &mEg, &mRep} {
		if err := e.fp.Install6(a); err != nil {
			t.Fatal(err)
		}
	}
	chassis4 := packet.IP4(seedtest.Chassis.To4())
	eg := func(f inner6) []byte { // egress over the IPv6 underlay
		f.src, f.dst, f.sip, f.dip = macDR, macJoin, v6VM, v6Server
		if f.hop == 0 {
			f.hop = 64
		}
		if f.proto == 0 {
			f.proto, f.sport, f.dport = packet.ProtoUDP, udpEg.Key.SrcPort, udpEg.Key.DstPort
		}
		return wrap6(t, v6Chassis, f.build(t))
	}
	rep := func(f inner6) []byte { // reply from the external side
		f.src, f.dst, f.dip = macNext, macExt, v6SNAT
		if f.sip == (packet.IP6{}) {
			f.sip = v6Server
		}
		if f.hop == 0 {
			f.hop = 64
		}
		if f.proto == 0 {
			f.proto, f.sport, f.dport = packet.ProtoUDP, udpRep.Key.SrcPort, udpRep.Key.DstPort
		}
		return f.build(t)
	}
	badOuter := eg(inner6{})
	badOuter[geneve6CsumOff] ^= 0x55
	inner4 := seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1, DPort: 2})
	// Geneve over IPv6 with a destination options header before the
	// outer UDP: software walks it; the fast path does not take it.
	plain := eg(inner6{})
	outerExt := append(append(append([]byte(nil), plain[:54]...), packet.ProtoUDP, 0, 1, 4, 0, 0, 0, 0), plain[54:]...)
	outerExt[20] = packet.ProtoDstOpts
	outerExt[18], outerExt[19] = byte((len(outerExt)-54)>>8), byte(len(outerExt)-54)
	for _, c := range []struct {
		name  string
		frame []byte
		why   PuntReason
	}{
		{"outer-ext-headers", outerExt, PuntIPOptions},
		{"hop-limit", eg(inner6{hop: 1}), PuntTTL},
		{"fragment", rep(inner6{frag: true}), PuntFragment},
		{"ext-count", rep(inner6{dstOpts: 9}), PuntIP6Ext},
		{"too-big", eg(inner6{payload: 1500 - 40 - 8 + 1}), PuntTooBig},
		{"martian-source", rep(inner6{sip: mRep.Key.Src}), PuntMartianSource},
		{"martian-dest", wrap6(t, v6Chassis, inner6{src: macDR, dst: macJoin, sip: v6VM, dip: mEg.Key.Dst, hop: 64,
			proto: packet.ProtoUDP, sport: mEg.Key.SrcPort, dport: mEg.Key.DstPort}.build(t)), PuntMartianDest},
		{"icmp6-error", rep(inner6{proto: packet.ProtoICMPv6, icmpType: layers.ICMPv6TypeDestinationUnreachable}), PuntProto},
		{"udp-zero-checksum", rep(inner6{zeroUDPCsum: true}), PuntMalformed},
		{"encap-with-ext", rep(inner6{dstOpts: 1}), PuntChecksum},
		{"unknown-vtep", wrap6(t, v6Rogue, inner6{src: macDR, dst: macJoin, sip: v6VM, dip: v6Server, hop: 64,
			proto: packet.ProtoUDP, sport: udpEg.Key.SrcPort, dport: udpEg.Key.DstPort}.build(t)), PuntUnknownVTEP},
		{"outer-checksum", badOuter, PuntGeneveChecksum},
		{"inner4-over-underlay6", wrap6(t, v6Chassis, inner4), PuntUnderlay6Inner4},
		{"tcp-syn", eg(inner6{proto: packet.ProtoTCP, sport: tcpEg.Key.SrcPort, dport: tcpEg.Key.DstPort, tcpFlags: "S"}), PuntSYN},
		{"tcp-rst", eg(inner6{proto: packet.ProtoTCP, sport: tcpEg.Key.SrcPort, dport: tcpEg.Key.DstPort, tcpFlags: "R"}), PuntRST},
	} {
		t.Run(c.name, func(t *testing.T) { e.wantPunt6(t, c.frame, c.why) })
	}
	// An IPv6 overlay over the IPv4 underlay punts with the same reasons.
	t.Run("underlay4-hop-limit", func(t *testing.T) {
		e.wantPunt6(t, wrap4(t, chassis4, inner6{src: macDR, dst: macJoin, sip: v6VM, dip: v6Server, hop: 1,
			proto: packet.ProtoUDP, sport: udpEg.Key.SrcPort, dport: udpEg.Key.DstPort}.build(t)), PuntTTL)
	})
	// A miss is counted as a miss, not a punt.
	t.Run("miss", func(t *testing.T) {
		before := e.stats(t).FastPath.Miss6.Packets
		ret, _ := runFP(t, e.o.Program(), rep(inner6{proto: packet.ProtoUDP, sport: 9, dport: 9}))
		if ret != xdpPass || e.stats(t).FastPath.Miss6.Packets != before+1 {
			t.Fatalf("verdict %d, Miss6 %d -> %d", ret, before, e.stats(t).FastPath.Miss6.Packets)
		}
	})
}

// geneve6CsumOff is where Encap6 puts the outer UDP checksum.
const geneve6CsumOff = 60

type flowAction6 = flow.Action6

// TestSteer6ND: a neighbour solicitation for a NAT66 address (not the
// host's) is steered to the XSK as ARP for a NAT address is; other
// neighbour discovery is the kernel's (passed).
func TestSteer6ND(t *testing.T) {
	e := newFP6(t)
	ns := func(target packet.IP6, typ uint8) []byte {
		sn := target.SolicitedNode()
		mm := sn.MulticastMAC()
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(macNext[:]), DstMAC: net.HardwareAddr(mm[:]), EthernetType: layers.EthernetTypeIPv6}
		ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.IP(v6Server[:]), DstIP: net.IP(sn[:])}
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
		_ = ic.SetNetworkLayerForChecksum(ip)
		body := &layers.ICMPv6NeighborSolicitation{TargetAddress: net.IP(target[:])}
		b := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, ic, body); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, c := range []struct {
		name     string
		frame    []byte
		toSocket bool
	}{
		{"ns-nat66", ns(v6SNAT, layers.ICMPv6TypeNeighborSolicitation), true},
		{"ns-other", ns(v6Server, layers.ICMPv6TypeNeighborSolicitation), false},
		{"na-nat66", ns(v6SNAT, layers.ICMPv6TypeNeighborAdvertisement), false},
		{"rs", ns(v6SNAT, layers.ICMPv6TypeRouterSolicitation), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.stats(t)
			ret, _ := runFP(t, e.o.Program(), c.frame)
			after := e.stats(t)
			// Without a socket on the queue, steering counts NoSocket
			// (RedirectND counts what a socket took).
			sock := after.NoSocket.Packets - before.NoSocket.Packets
			pass := after.Pass.Packets - before.Pass.Packets
			if ret != xdpPass || (c.toSocket && (sock != 1 || pass != 0)) || (!c.toSocket && (sock != 0 || pass != 1)) {
				t.Fatalf("verdict %d: NoSocket +%d, Pass +%d", ret, sock, pass)
			}
		})
	}
}
