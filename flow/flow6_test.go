package flow

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// frame6 builds eth/IPv6[/hop-by-hop]/UDP, TCP or ICMPv6 echo with valid
// checksums, as gopacket serializes it. For ICMPv6 sport is the echo id.
func frame6(t testing.TB, src, dst packet.MAC, sip, dip packet.IP6, hop, proto uint8, sport, dport uint16, hbh bool) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(src[:]), DstMAC: net.HardwareAddr(dst[:]), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: hop, NextHeader: layers.IPProtocol(proto), SrcIP: net.IP(sip[:]), DstIP: net.IP(dip[:]), FlowLabel: 0x12345}
	ls := []gopacket.SerializableLayer{eth, ip}
	if hbh {
		ip.NextHeader = layers.IPProtocolIPv6HopByHop
		h := &layers.IPv6HopByHop{}
		h.NextHeader = layers.IPProtocol(proto)
		// One PadN option filling the 8 bytes.
		h.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
		ls = append(ls, h)
	}
	switch proto {
	case packet.ProtoTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Ack: 2000, ACK: true, Window: 512}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, tcp)
	case packet.ProtoUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, udp)
	case packet.ProtoICMPv6:
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		if err := ic.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, ic, &layers.ICMPv6Echo{Identifier: sport, SeqNumber: 7})
	}
	ls = append(ls, gopacket.Payload("xgw flow6 test payload"))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	vm6     = packet.MustIP6("fd00:10:199:100::10")
	server6 = packet.MustIP6("2001:db8:31:6::24")
	snat6   = packet.MustIP6("2001:db8:123::123")
	outer4  = geneve.EncapParams{SrcMAC: packet.MAC{2, 0, 0, 0, 0, 0x23}, DstMAC: packet.MAC{2, 0, 0, 0, 0, 0x21},
		Src: packet.IP4{172, 31, 5, 23}, Dst: packet.IP4{172, 31, 1, 21}, TTL: 64, DF: true, SrcPort: 51234,
		VNI: 9, InPort: 1, OutPort: 2, Checksum: true}
	outer6 = geneve.EncapParams6{SrcMAC: packet.MAC{2, 0, 0, 0, 0, 0x23}, DstMAC: packet.MAC{2, 0, 0, 0, 0, 0x21},
		Src: packet.MustIP6("fd99::5:23"), Dst: packet.MustIP6("fd99::1:21"), HopLimit: 64, SrcPort: 51234,
		VNI: 9, InPort: 1, OutPort: 2}
)

// seedActions6 is the seed's shape in IPv6: egress NAT66s and routes one
// hop, the reply un-NATs, runs two hops and is encapsulated (over the
// IPv4 underlay; callers switch to IPv6).
func seedActions6(proto uint8) (egress, reply Action6) {
	sport, dport := uint16(40000), uint16(5201)
	if proto == packet.ProtoICMPv6 {
		sport, dport = 77, 77
	}
	conns := [2]Conn{{Handle: conntrack.Handle(7), Dir: conntrack.DirOrig}, {Handle: conntrack.Handle(9), Dir: conntrack.DirOrig}}
	egress = Action6{
		Key:     Key6{InPort: Underlay, VNI: 1, InnerDst: grJoin, Src: vm6, Dst: server6, SrcPort: sport, DstPort: dport, Proto: proto},
		OutPort: External, Decap: true, EthSrc: grExt, EthDst: nextHop, HopDec: 1,
		NATSrc: snat6, NATDst: server6, NATSrcPort: sport, NATDstPort: dport, Conns: conns, MaxLen: 1500,
	}
	reply = Action6{
		Key:     Key6{InPort: External, Src: server6, Dst: snat6, SrcPort: dport, DstPort: sport, Proto: proto},
		OutPort: Underlay, EthSrc: drMAC, EthDst: vmMAC, HopDec: 2,
		NATSrc: server6, NATDst: vm6, NATSrcPort: dport, NATDstPort: sport,
		Encap: true, Outer: outer4,
		Conns: [2]Conn{{Handle: 7, Dir: conntrack.DirReply}, {Handle: 9, Dir: conntrack.DirReply}},
	}
	return egress, reply
}

type case6 struct {
	name      string
	a         Action6
	in, want  []byte
	wantOuter bool
}

func cases6(t testing.TB) []case6 {
	var cs []case6
	for _, proto := range []uint8{packet.ProtoUDP, packet.ProtoTCP, packet.ProtoICMPv6} {
		eg, rep := seedActions6(proto)
		es, ed, rs, rd := eg.Key.SrcPort, eg.Key.DstPort, rep.Key.SrcPort, rep.Key.DstPort
		name := map[uint8]string{packet.ProtoUDP: "udp", packet.ProtoTCP: "tcp", packet.ProtoICMPv6: "icmp6"}[proto]
		cs = append(cs, case6{"egress-" + name, eg,
			frame6(t, drMAC, grJoin, vm6, server6, 63, proto, es, ed, false),
			frame6(t, grExt, nextHop, snat6, server6, 62, proto, es, ed, false), false})
		cs = append(cs, case6{"reply-v4underlay-" + name, rep,
			frame6(t, nextHop, grExt, server6, snat6, 60, proto, rs, rd, false),
			frame6(t, drMAC, vmMAC, server6, vm6, 58, proto, rs, rd, false), true})
		rep6 := rep
		rep6.Underlay6, rep6.Outer6, rep6.Outer = true, outer6, geneve.EncapParams{}
		cs = append(cs, case6{"reply-v6underlay-" + name, rep6,
			frame6(t, nextHop, grExt, server6, snat6, 60, proto, rs, rd, true),
			frame6(t, drMAC, vmMAC, server6, vm6, 58, proto, rs, rd, true), true})
		routed := eg
		routed.NATSrc = vm6
		cs = append(cs, case6{"routed-" + name, routed,
			frame6(t, drMAC, grJoin, vm6, server6, 2, proto, es, ed, true),
			frame6(t, grExt, nextHop, vm6, server6, 1, proto, es, ed, true), false})
	}
	// The NAT also maps ports: SNAT66 with a port change.
	eg, _ := seedActions6(packet.ProtoUDP)
	eg.NATSrcPort = 1024
	cs = append(cs, case6{"egress-udp-port", eg,
		frame6(t, drMAC, grJoin, vm6, server6, 63, packet.ProtoUDP, 40000, 5201, false),
		frame6(t, grExt, nextHop, snat6, server6, 62, packet.ProtoUDP, 1024, 5201, false), false})
	return cs
}

// TestApply6MatchesSerializedOutput: Apply6's output is the frame
// gopacket serializes from the action's fields with fresh checksums (so
// the incremental NAT66 updates are right), the outer headers decap with
// a valid checksum over either underlay, and Derive6 reads the same
// action back.
func TestApply6MatchesSerializedOutput(t *testing.T) {
	for _, tc := range cases6(t) {
		t.Run(tc.name, func(t *testing.T) {
			const headroom = 128
			buf := make([]byte, headroom+len(tc.in))
			copy(buf[headroom:], tc.in)
			var p packet.Parsed
			if r := p.DecodeDual(buf[headroom:]); r != packet.OK || p.Family != 6 {
				t.Fatalf("decode input: %v family %d", r, p.Family)
			}
			if k := KeyOf6(tc.a.Key.InPort, tc.a.Key.VNI, tc.a.Key.InnerDst, &p); k != tc.a.Key {
				t.Fatalf("KeyOf6 %+v, want %+v", k, tc.a.Key)
			}
			if !tc.a.Applicable(p.TTL, p.End-p.L3Off, headroom) {
				t.Fatal("action not applicable to a packet with room and hop limit")
			}
			arrival := p.TTL
			off, n := Apply6(&tc.a, buf, headroom, len(tc.in), &p)
			out := buf[off : off+n]
			inner := out
			if tc.wantOuter {
				if n != len(tc.in)+tc.a.EncapLen() || off != headroom-tc.a.EncapLen() {
					t.Fatalf("encap: off %d len %d", off, n)
				}
				var d geneve.Decapped
				if r := geneve.DecapDual(out, &d); r != geneve.OK {
					t.Fatalf("output does not decap: %v", r)
				}
				if d.IPv6 != tc.a.Underlay6 || d.UDPChecksum == 0 || !geneve.VerifyUDPChecksum(out, &d) {
					t.Fatalf("outer: IPv6 %v checksum %#x", d.IPv6, d.UDPChecksum)
				}
				if d.VNI != 9 || d.InPort != 1 || d.OutPort != 2 {
					t.Fatalf("outer: VNI %d option %d->%d", d.VNI, d.InPort, d.OutPort)
				}
				inner = out[d.InnerOff:d.End]
			}
			if !bytes.Equal(inner, tc.want) {
				t.Fatalf("inner frame\n got %x\nwant %x", inner, tc.want)
			}
			// gopacket agrees that every checksum is right.
			g := gopacket.NewPacket(inner, layers.LayerTypeEthernet, gopacket.Default)
			if el := g.ErrorLayer(); el != nil {
				t.Fatalf("gopacket: %v", el.Error())
			}
			o := Output6{Key: tc.a.Key, OutPort: tc.a.OutPort, Frame: out, ArrivalHop: arrival, Conns: tc.a.Conns}
			if tc.a.Encap && tc.a.Underlay6 {
				o.Outer6 = &tc.a.Outer6
			} else if tc.a.Encap {
				o.Outer = &tc.a.Outer
			}
			var got Action6
			if err := Derive6(&o, &got); err != nil {
				t.Fatal(err)
			}
			got.MaxLen = tc.a.MaxLen
			if got != tc.a {
				t.Fatalf("Derive6(Apply6(a)) != a\n got %+v\nwant %+v", got, tc.a)
			}
			// The reply key of the output is the other direction's key.
			if rk := got.ReplyKey(External, 0, packet.MAC{}); rk.Src != got.NATDst || rk.DstPort != got.NATSrcPort {
				t.Fatalf("ReplyKey %+v", rk)
			}
		})
	}
}

// TestApplicable6: hop limit, MaxLen (no fragmentation: punt) and
// headroom for either underlay.
func TestApplicable6(t *testing.T) {
	eg, rep := seedActions6(packet.ProtoUDP)
	if eg.Applicable(1, 100, 0) || !eg.Applicable(2, 100, 0) {
		t.Fatal("egress (one hop): hop limit 1 must punt, 2 forward")
	}
	if eg.Applicable(64, 1501, 0) || !eg.Applicable(64, 1500, 0) {
		t.Fatal("MaxLen 1500: 1501 must punt, 1500 forward")
	}
	if rep.Applicable(2, 100, 128) || !rep.Applicable(3, 100, 128) {
		t.Fatal("reply (two hops): hop limit 2 must punt, 3 forward")
	}
	if rep.Applicable(64, 100, geneve.EncapLen-1) || !rep.Applicable(64, 100, geneve.EncapLen) {
		t.Fatal("IPv4 underlay headroom")
	}
	rep.Underlay6 = true
	if rep.Applicable(64, 100, geneve.EncapLen6-1) || !rep.Applicable(64, 100, geneve.EncapLen6) {
		t.Fatal("IPv6 underlay headroom")
	}
}

// TestKey6Hash: equal keys hash equal; every field moves the hash.
func TestKey6Hash(t *testing.T) {
	eg, _ := seedActions6(packet.ProtoUDP)
	k := eg.Key
	h := k.Hash()
	muts := []func(*Key6){
		func(k *Key6) { k.Src[15]++ }, func(k *Key6) { k.Src[0]++ }, func(k *Key6) { k.Dst[15]++ },
		func(k *Key6) { k.Dst[3]++ }, func(k *Key6) { k.SrcPort++ }, func(k *Key6) { k.DstPort++ },
		func(k *Key6) { k.Proto++ }, func(k *Key6) { k.InPort++ }, func(k *Key6) { k.VNI += 1 << 20 },
		func(k *Key6) { k.InnerDst[0]++ },
	}
	for i, m := range muts {
		c := k
		m(&c)
		if c.Hash() == h {
			t.Errorf("mutation %d does not change the hash", i)
		}
	}
	c := k
	if c.Hash() != h {
		t.Fatal("hash not deterministic")
	}
}

// TestDerive6Refuses: output that cannot be what the pipeline sent.
func TestDerive6Refuses(t *testing.T) {
	eg, rep := seedActions6(packet.ProtoUDP)
	good := frame6(t, grExt, nextHop, snat6, server6, 62, packet.ProtoUDP, 40000, 5201, false)
	v4 := frame(t, grExt, nextHop, snatIP, server, 62, packet.ProtoUDP, 40000, 5201)
	for name, o := range map[string]Output6{
		"short-encap": {Key: rep.Key, OutPort: Underlay, Frame: good[:20], Outer6: &outer6, ArrivalHop: 64},
		"both-outers": {Key: rep.Key, OutPort: Underlay, Frame: good, Outer: &outer4, Outer6: &outer6, ArrivalHop: 64},
		"garbage":     {Key: eg.Key, OutPort: External, Frame: good[:16], ArrivalHop: 64},
		"ipv4":        {Key: eg.Key, OutPort: External, Frame: v4, ArrivalHop: 64},
		"hop-grew":    {Key: eg.Key, OutPort: External, Frame: good, ArrivalHop: 10},
	} {
		var a Action6
		if err := Derive6(&o, &a); !errors.Is(err, ErrDerive) {
			t.Errorf("%s: err %v, want ErrDerive", name, err)
		}
	}
}

// TestApply6ZeroAllocs: Apply6 is on a flow cache's hit path.
func TestApply6ZeroAllocs(t *testing.T) {
	_, rep := seedActions6(packet.ProtoTCP)
	rep.Underlay6, rep.Outer6 = true, outer6
	in := frame6(t, nextHop, grExt, server6, snat6, 60, packet.ProtoTCP, 5201, 40000, false)
	buf := make([]byte, 128+len(in))
	var p packet.Parsed
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf[128:], in)
		p.DecodeDual(buf[128:])
		k := KeyOf6(External, 0, packet.MAC{}, &p)
		_ = k.Hash()
		Apply6(&rep, buf, 128, len(in), &p)
	})
	if allocs != 0 {
		t.Fatalf("Apply6 allocates %.1f times per packet", allocs)
	}
}

// FuzzDerive6: whatever the bytes, an action or ErrDerive, never a panic.
func FuzzDerive6(f *testing.F) {
	eg, rep := seedActions6(packet.ProtoUDP)
	f.Add(frame6(f, grExt, nextHop, snat6, server6, 62, packet.ProtoUDP, 40000, 5201, false), uint8(63), uint8(0))
	f.Add(frame6(f, drMAC, vmMAC, server6, vm6, 58, packet.ProtoTCP, 5201, 40000, true), uint8(60), uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, hop uint8, encap uint8) {
		o := Output6{Key: eg.Key, OutPort: External, Frame: b, ArrivalHop: hop}
		switch encap % 3 {
		case 1:
			o.Key, o.OutPort, o.Outer = rep.Key, Underlay, &outer4
		case 2:
			o.Key, o.OutPort, o.Outer6 = rep.Key, Underlay, &outer6
		}
		var a Action6
		if err := Derive6(&o, &a); err != nil && !errors.Is(err, ErrDerive) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
