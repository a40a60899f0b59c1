package geneve

import (
	"fmt"
	"testing"
)

func reportPPS(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pps")
}

func BenchmarkDecap(b *testing.B) {
	for _, n := range []int{64, 1400} {
		b.Run(fmt.Sprintf("inner%d", n), func(b *testing.B) {
			inner := innerFrame(b, n-42) // Ethernet+IPv4+UDP = 42
			frame := outerFrame(b, false, true, geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{ovnTLV(1, 2)}), inner)
			var d Decapped
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if Decap(frame, &d) != OK {
					b.Fatal("decap")
				}
			}
			reportPPS(b)
		})
	}
}

func BenchmarkEncap(b *testing.B) {
	for _, csum := range []bool{false, true} {
		for _, n := range []int{64, 1400} {
			b.Run(fmt.Sprintf("csum=%v/inner%d", csum, n), func(b *testing.B) {
				inner := innerFrame(b, n-42)
				buf := make([]byte, 256+len(inner))
				copy(buf[256:], inner)
				p := egressParams(csum)
				b.SetBytes(int64(len(inner) + EncapLen))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					p.SrcPort = SourcePort(FlowHash(vmIP, extIP, uint16(i), 5001, 17))
					Encap(buf, 256, len(inner), p)
				}
				reportPPS(b)
			})
		}
	}
}
