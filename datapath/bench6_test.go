package datapath

import (
	"net"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// BenchmarkNDAnswer parses a solicitation and writes the advertisement,
// beside BenchmarkARPAnswer doing the same for ARP, to compare in one run.
func BenchmarkNDAnswer(b *testing.B) {
	f := nsWithSLLA(b, nsSpec{src: v6DR, dst: v6Router.SolicitedNode(), target: v6Router})
	buf := make([]byte, 256)
	var p packet.Parsed
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, f)
		fr := buf[:len(f)]
		if p.DecodeDual(fr) != packet.OK {
			b.Fatal("decode")
		}
		ns, why := parseNS(fr, &p)
		if why != DropNone || putNA(buf, p.L3Off, &ns, macGR, true) == 0 {
			b.Fatal("answer")
		}
	}
}

// BenchmarkARPAnswer is BenchmarkNDAnswer for arpRequest and arpReply.
func BenchmarkARPAnswer(b *testing.B) {
	eth := &layers.Ethernet{SrcMAC: seedtest.MACDRJoin, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: seedtest.MACDRJoin, SourceProtAddress: []byte{172, 16, 255, 1},
		DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{172, 16, 255, 3}.To4()}
	f := seedtest.Serialize(b, eth, arp)
	buf := make([]byte, 256)
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, f)
		fr := buf[:len(f)]
		if _, ok := arpRequest(fr); !ok {
			b.Fatal("request")
		}
		arpReply(fr, macGR, packet.IP4{172, 16, 255, 3})
	}
}

// BenchmarkTimeExceeded6 builds a time exceeded quoting a 1280-byte
// message's worth of a 1500-byte datagram (rate limit out of the way).
func BenchmarkTimeExceeded6(b *testing.B) {
	x := newCtx6(b)
	x.h.topo.ICMPRate, x.h.topo.ICMPBurst = 1<<30, 1<<30
	if err := x.h.pl.SetTopology(x.h.topo); err != nil {
		b.Fatal(err)
	}
	f := udp6(b, v6VM, v6Server, 1, 1500-48)
	b.ReportAllocs()
	for b.Loop() {
		c := x.load(b, f, 0)
		if why := x.h.w.timeExceeded6(c, x.pkt.Frame(), v6Router); why != DropNone {
			b.Fatal(why)
		}
	}
}
