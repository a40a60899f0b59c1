package datapath

import (
	"net"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
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

// BenchmarkPipelineEstablished6 is BenchmarkPipelineEstablished for IPv6:
// NAT66 UDP flows of vm1 (Geneve over the IPv4 underlay), egress and
// reply packets half each, with the workers' flow cache on and off.
func BenchmarkPipelineEstablished6(b *testing.B) {
	for _, c := range []struct {
		name    string
		flows   int
		noCache bool
	}{
		{"flows=1k", 1000, false},
		{"flows=1k/cache=off", 1000, true},
		{"flows=10k", 10000, false},
		{"flows=10k/cache=off", 10000, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := newHarness6(b)
			if c.noCache {
				h.w.cache = nil
			}
			fs := establishedFlows6(b, h, c.flows)
			b.ReportAllocs()
			b.ResetTimer()
			start := 0
			for i := 0; i < b.N; i += batchSize {
				fs.fill(start)
				start += batchSize / 2
				h.w.Process(fs.batch)
			}
			b.StopTimer()
			if fs.batch[0].Verdict != VerdictTX || fs.batch[1].Verdict != VerdictTX {
				b.Fatalf("not forwarded: %v %v", fs.batch[0].Reason, fs.batch[1].Reason)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pps")
			b.ReportMetric(float64(h.pl.Stats().CacheHits)/float64(b.N), "cache-hits/pkt")
		})
	}
}

// establishedFlows6 is establishedFlows for NAT66 UDP flows of vm1.
func establishedFlows6(tb testing.TB, h *harness, n int) *flowSet {
	fs := &flowSet{}
	for i := 0; i < n; i++ {
		sport := uint16(10000 + i%50000)
		eg := egress6(tb, d6VM1, 64, sport)
		p := h.run(flow.Underlay, eg)
		if p.Verdict != VerdictTX {
			tb.Fatalf("flow %d egress: %v %v", i, p.Verdict, p.Reason)
		}
		var q packet.Parsed
		if q.DecodeDual(p.Frame()) != packet.OK {
			tb.Fatalf("flow %d egress output does not decode", i)
		}
		rp := reply6(tb, d6SNAT, q.SrcPort)
		if p := h.run(flow.External, rp); p.Verdict != VerdictTX {
			tb.Fatalf("flow %d reply: %v %v", i, p.Verdict, p.Reason)
		}
		fs.egress = append(fs.egress, eg)
		fs.reply = append(fs.reply, rp)
	}
	fs.bufs = make([][]byte, batchSize)
	for i := range fs.bufs {
		fs.bufs[i] = make([]byte, 2048)
	}
	fs.batch = make([]Packet, batchSize)
	return fs
}
