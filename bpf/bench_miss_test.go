package bpf

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// BenchmarkXDPMiss measures what xdp_gw costs a packet the fast path does
// not take (every packet of the software path): Geneve from a known
// chassis for a flow that is not offloaded, cycling through 4096 distinct
// flows so that the probes spread over the bucket array as real traffic
// does. "empty" is a fresh load (xgw_flows_used clear: no lookup),
// "empty-lookup" the same map with the mark forced on (what every packet
// paid before), "size=N" a map of N entries holding 5000 flows.
//
//	sudo go test -run - -bench XDPMiss -benchtime 200000x ./bpf
func BenchmarkXDPMiss(b *testing.B) {
	const distinct = 4096
	var frames [][]byte
	for i := range distinct {
		frames = append(frames, seedtest.Egress(b, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: uint16(40000 + i), DPort: 9, Payload: make([]byte, 22)}))
	}
	for _, c := range []struct {
		name        string
		size, flows int
		forceLookup bool
	}{
		{"empty", 0, 0, false},
		{"empty-lookup", 0, 0, true},
		{"size=8192", 8192, 5000, false},
		{"size=65536", 65536, 5000, false},
		{"size=262144", 262144, 5000, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			needRoot(b)
			o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP)), FlowCapacity: c.size})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			fp := o.FastPath()
			for _, port := range []flow.Port{flow.Underlay, flow.External} {
				if err := fp.SetPort(port, 1); err != nil {
					b.Fatal(err)
				}
			}
			setSeedVTEPs(b, fp)
			if c.flows > 0 {
				p := newPipe(b, true)
				fwd, _ := p.establish(seedtest.Egress(b, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1234, DPort: 53}),
					seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 1234})
				as := make([]flow.Action, c.flows)
				for i := range as {
					as[i] = fwd
					as[i].Key.SrcPort = uint16(1000 + i)
				}
				if n, err := fp.InstallBatch(as); err != nil || n != len(as) {
					b.Fatalf("install %d flows: %d, %v", len(as), n, err)
				}
			}
			if c.forceLookup {
				if err := fp.setUsed(1); err != nil {
					b.Fatal(err)
				}
			}
			prog := o.Program()
			var total time.Duration
			i := 0
			for b.Loop() {
				ret, d, err := prog.Benchmark(frames[i%distinct], 1, nil)
				if err != nil || ret != xdpPass {
					b.Fatalf("verdict %d, %v", ret, err)
				}
				total += d
				i++
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
		})
	}
}
