package geneve

import (
	"fmt"
	"testing"
)

// BenchmarkDecap6 is BenchmarkDecap over an IPv6 underlay (DecapDual),
// with the IPv4 underlay through DecapDual for the dispatch's cost.
func BenchmarkDecap6(b *testing.B) {
	for _, n := range []int{64, 1400} {
		inner := innerFrame(b, n-42)
		gen := geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{ovnTLV(1, 2)})
		for _, c := range []struct {
			name  string
			frame []byte
		}{{"v6", outerFrame6(b, false, true, 0, nil, gen, inner)}, {"v4-dual", outerFrame(b, false, true, gen, inner)}} {
			b.Run(fmt.Sprintf("%s/inner%d", c.name, n), func(b *testing.B) {
				var d Decapped
				b.SetBytes(int64(len(c.frame)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if DecapDual(c.frame, &d) != OK {
						b.Fatal("decap")
					}
				}
				reportPPS(b)
			})
		}
	}
}

// BenchmarkEncap6 is BenchmarkEncap's csum=true case over IPv6 (Encap6
// always sums).
func BenchmarkEncap6(b *testing.B) {
	for _, n := range []int{64, 1400} {
		b.Run(fmt.Sprintf("inner%d", n), func(b *testing.B) {
			inner := innerFrame6(b, n-62) // Ethernet+IPv6+UDP = 62
			buf := make([]byte, 256+len(inner))
			copy(buf[256:], inner)
			p := egressParams6()
			b.SetBytes(int64(len(inner) + EncapLen6))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p.SrcPort = SourcePort(FlowHash6(vmIP6, extIP6, uint16(i), 5001, 17))
				Encap6(buf, 256, len(inner), p)
			}
			reportPPS(b)
		})
	}
}
