package bpf

import (
	"testing"
	"time"

	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// BenchmarkXDP6 is BenchmarkXDP for IPv6 flows: egress (decap, NAT66)
// and ingress (NAT66, encap with the outer checksum) over each underlay
// family, in ns/pkt from BPF_PROG_RUN.
//
//	sudo go test -run - -bench XDP6 -benchtime 200000x ./bpf
func BenchmarkXDP6(b *testing.B) {
	e := newFP6(b)
	type benchCase struct {
		name  string
		frame []byte
	}
	var cases []benchCase
	for i, u6 := range []bool{false, true} {
		eg, rep := actions6(packet.ProtoUDP, u6)
		// Keys of their own per underlay, so both stay installed.
		eg.Key.SrcPort += uint16(i)
		eg.NATSrcPort, rep.Key.DstPort, rep.NATDstPort = eg.Key.SrcPort, eg.Key.SrcPort, eg.Key.SrcPort
		for _, a := range []*flowAction6{&eg, &rep} {
			if err := e.fp.Install6(a); err != nil {
				b.Fatal(err)
			}
		}
		inner := inner6{src: macDR, dst: macJoin, sip: v6VM, dip: v6Server, hop: 64, proto: packet.ProtoUDP,
			sport: eg.Key.SrcPort, dport: eg.Key.DstPort, payload: 22}.build(b)
		in := wrap4(b, packet.IP4(seedtest.Chassis.To4()), inner)
		name := "underlay4"
		if u6 {
			in, name = wrap6(b, v6Chassis, inner), "underlay6"
		}
		cases = append(cases,
			benchCase{"egress6-hit-" + name, in},
			benchCase{"ingress6-hit-" + name, inner6{src: macNext, dst: macExt, sip: v6Server, dip: v6SNAT, hop: 64,
				proto: packet.ProtoUDP, sport: rep.Key.SrcPort, dport: rep.Key.DstPort, payload: 22}.build(b)})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				ret, d, err := e.o.Program().Benchmark(c.frame, 1, nil)
				if err != nil || ret != xdpRedirectVerdict {
					b.Fatalf("verdict %d, %v", ret, err)
				}
				total += d
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
		})
	}
}
