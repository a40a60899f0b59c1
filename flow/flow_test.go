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

// frame builds eth/IPv4/UDP or TCP with valid checksums, as gopacket
// serializes it.
func frame(t testing.TB, src, dst packet.MAC, sip, dip packet.IP4, ttl uint8, proto uint8, sport, dport uint16) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(src[:]), DstMAC: net.HardwareAddr(dst[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: ttl, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocol(proto),
		SrcIP: net.IP(sip[:]), DstIP: net.IP(dip[:])}
	var l4 gopacket.SerializableLayer
	switch proto {
	case packet.ProtoTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Ack: 2000, ACK: true, Window: 512}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		l4 = tcp
	default:
		udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		l4 = udp
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, l4, gopacket.Payload("xgw flow test payload")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	vmMAC   = packet.MAC{0, 0, 0x19, 0x91, 0, 0x10}
	drMAC   = packet.MAC{0xae, 3, 3, 0x17, 0xeb, 0xdf}
	grJoin  = packet.MAC{0xae, 0xcd, 0xcd, 4, 0xd7, 0xd4}
	grExt   = packet.MAC{0xae, 0xa9, 0xa9, 0x0c, 0x6f, 0xc8}
	nextHop = packet.MAC{0x88, 0x2a, 0x5e, 0xa9, 0x30, 0xab}
	vm      = packet.IP4{10, 199, 100, 10}
	server  = packet.IP4{172, 31, 6, 24}
	snatIP  = packet.IP4{123, 123, 123, 123}
)

// The seed's two directions as actions: egress SNATs and routes one hop,
// the reply un-SNATs, runs two router hops and is encapsulated.
func seedActions() (egress, reply Action) {
	conns := [2]Conn{{Handle: conntrack.Handle(7), Dir: conntrack.DirOrig}, {Handle: conntrack.Handle(9), Dir: conntrack.DirOrig}}
	egress = Action{
		Key:     Key{InPort: Underlay, VNI: 1, InnerDst: grJoin, Src: vm, Dst: server, SrcPort: 40000, DstPort: 5201, Proto: packet.ProtoUDP},
		OutPort: External, Decap: true, EthSrc: grExt, EthDst: nextHop, TTLDec: 1,
		NATSrc: snatIP, NATDst: server, NATSrcPort: 40000, NATDstPort: 5201, Conns: conns,
	}
	reply = Action{
		Key:     Key{InPort: External, Src: server, Dst: snatIP, SrcPort: 5201, DstPort: 40000, Proto: packet.ProtoUDP},
		OutPort: Underlay, EthSrc: drMAC, EthDst: vmMAC, TTLDec: 2,
		NATSrc: server, NATDst: vm, NATSrcPort: 5201, NATDstPort: 40000,
		Encap: true, Outer: geneve.EncapParams{SrcMAC: packet.MAC{2, 0, 0, 0, 0, 0x23}, DstMAC: packet.MAC{2, 0, 0, 0, 0, 0x21},
			Src: packet.IP4{172, 31, 5, 23}, Dst: packet.IP4{172, 31, 1, 21}, TTL: 64, DF: true, SrcPort: 51234,
			VNI: 9, InPort: 1, OutPort: 2, Checksum: true},
		Conns: [2]Conn{{Handle: 7, Dir: conntrack.DirReply}, {Handle: 9, Dir: conntrack.DirReply}},
	}
	return egress, reply
}

// TestApplyMatchesSerializedOutput: Apply's output is the frame gopacket
// serializes from the action's fields with fresh checksums, so the
// incremental updates are right; and Derive reads the same action back.
func TestApplyMatchesSerializedOutput(t *testing.T) {
	eg, rep := seedActions()
	for _, tc := range []struct {
		name  string
		a     Action
		in    []byte
		want  []byte
		proto uint8
	}{
		{"egress-udp", eg,
			frame(t, drMAC, grJoin, vm, server, 63, packet.ProtoUDP, 40000, 5201),
			frame(t, grExt, nextHop, snatIP, server, 62, packet.ProtoUDP, 40000, 5201), packet.ProtoUDP},
		{"reply-udp", rep,
			frame(t, nextHop, grExt, server, snatIP, 60, packet.ProtoUDP, 5201, 40000),
			frame(t, drMAC, vmMAC, server, vm, 58, packet.ProtoUDP, 5201, 40000), packet.ProtoUDP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const headroom = 128
			buf := make([]byte, headroom+len(tc.in))
			copy(buf[headroom:], tc.in)
			var p packet.Parsed
			if r := p.Decode(buf[headroom:]); r != packet.OK {
				t.Fatalf("decode input: %v", r)
			}
			if !tc.a.Applicable(p.TTL, headroom) {
				t.Fatal("action not applicable to a packet with room and TTL")
			}
			off, n := Apply(&tc.a, buf, headroom, len(tc.in), &p)
			out := buf[off : off+n]
			inner := out
			if tc.a.Encap {
				if n != len(tc.in)+geneve.EncapLen || off != headroom-geneve.EncapLen {
					t.Fatalf("encap: off %d len %d", off, n)
				}
				var d geneve.Decapped
				if r := geneve.Decap(out, &d); r != geneve.OK {
					t.Fatalf("output does not decap: %v", r)
				}
				if r := geneve.VerifyUDPChecksum(out, &d); !r {
					t.Fatal("outer UDP checksum wrong")
				}
				if d.VNI != tc.a.Outer.VNI || d.InPort != tc.a.Outer.InPort || d.OutPort != tc.a.Outer.OutPort {
					t.Fatalf("outer: VNI %d option %d->%d", d.VNI, d.InPort, d.OutPort)
				}
				inner = out[d.InnerOff:d.End]
			}
			if !bytes.Equal(inner, tc.want) {
				t.Fatalf("inner frame\n got %x\nwant %x", inner, tc.want)
			}
			o := Output{Key: tc.a.Key, OutPort: tc.a.OutPort, Frame: out, ArrivalTTL: p.TTL, Conns: tc.a.Conns}
			if tc.a.Encap {
				o.Outer = &tc.a.Outer
			}
			var got Action
			if err := Derive(&o, &got); err != nil {
				t.Fatal(err)
			}
			if got != tc.a {
				t.Fatalf("Derive(Apply(a)) != a\n got %+v\nwant %+v", got, tc.a)
			}
		})
	}
}

// TestApplicable: a fast path punts packets whose TTL would run out and
// encap without headroom.
func TestApplicable(t *testing.T) {
	eg, rep := seedActions()
	if eg.Applicable(1, 0) || !eg.Applicable(2, 0) {
		t.Fatal("egress (one hop): TTL 1 must punt, TTL 2 forward")
	}
	if rep.Applicable(2, 128) || !rep.Applicable(3, 128) {
		t.Fatal("reply (two hops): TTL 2 must punt, TTL 3 forward")
	}
	if rep.Applicable(64, geneve.EncapLen-1) {
		t.Fatal("encap without headroom must punt")
	}
}

// TestDeriveRefuses: output that cannot be what the pipeline sent.
func TestDeriveRefuses(t *testing.T) {
	eg, rep := seedActions()
	good := frame(t, grExt, nextHop, snatIP, server, 62, packet.ProtoUDP, 40000, 5201)
	for name, o := range map[string]Output{
		"short-encap": {Key: rep.Key, OutPort: Underlay, Frame: good[:20], Outer: &rep.Outer, ArrivalTTL: 64},
		"garbage":     {Key: eg.Key, OutPort: External, Frame: good[:16], ArrivalTTL: 64},
		"ttl-grew":    {Key: eg.Key, OutPort: External, Frame: good, ArrivalTTL: 10},
	} {
		var a Action
		if err := Derive(&o, &a); !errors.Is(err, ErrDerive) {
			t.Errorf("%s: err %v, want ErrDerive", name, err)
		}
	}
}

// TestApplyZeroAllocs: Apply is on the flow cache's hit path.
func TestApplyZeroAllocs(t *testing.T) {
	_, rep := seedActions()
	in := frame(t, nextHop, grExt, server, snatIP, 60, packet.ProtoUDP, 5201, 40000)
	buf := make([]byte, 128+len(in))
	var p packet.Parsed
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf[128:], in)
		p.Decode(buf[128:])
		Apply(&rep, buf, 128, len(in), &p)
	})
	if allocs != 0 {
		t.Fatalf("Apply allocates %.1f times per packet", allocs)
	}
}

// FuzzDerive: Derive reads frames; whatever the bytes, it returns an
// action or ErrDerive, never panics.
func FuzzDerive(f *testing.F) {
	eg, rep := seedActions()
	f.Add(frame(f, grExt, nextHop, snatIP, server, 62, packet.ProtoUDP, 40000, 5201), uint8(63), false)
	f.Add(frame(f, drMAC, vmMAC, server, vm, 58, packet.ProtoTCP, 5201, 40000), uint8(60), true)
	f.Fuzz(func(t *testing.T, b []byte, ttl uint8, encap bool) {
		o := Output{Key: eg.Key, OutPort: External, Frame: b, ArrivalTTL: ttl}
		if encap {
			o.Key, o.OutPort, o.Outer = rep.Key, Underlay, &rep.Outer
		}
		var a Action
		if err := Derive(&o, &a); err != nil && !errors.Is(err, ErrDerive) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
