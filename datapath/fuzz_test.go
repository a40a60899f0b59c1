package datapath

import (
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
)

// FuzzPipeline feeds arbitrary frames to both ports of a pipeline loaded
// with the seed topology. Every frame must end in one verdict, and a
// transmitted frame must lie inside its buffer.
func FuzzPipeline(f *testing.F) {
	f.Add(seedEgress(f, l4{proto: layers.IPProtocolTCP, sport: 47190, dport: 22, syn: true}), false)
	f.Add(seedEgress(f, l4{proto: layers.IPProtocolUDP, sport: 5000, dport: 53}), false)
	f.Add(seedEgress(f, l4{proto: layers.IPProtocolICMPv4, icmpType: 8, icmpID: 9}), false)
	f.Add(seedReply(f, l4{proto: layers.IPProtocolTCP, sport: 22, dport: 47190, syn: true, ack: true}), true)
	f.Add(seedReply(f, l4{proto: layers.IPProtocolUDP, sport: 53, dport: 5000}), true)
	h := newHarness(f, seedConfig, conntrack.Config{Capacity: 4096})
	f.Fuzz(func(t *testing.T, frame []byte, external bool) {
		port := flow.Underlay
		if external {
			port = flow.External
		}
		p := h.run(port, frame)
		switch p.Verdict {
		case VerdictTX:
			if p.Off < 0 || p.Len < 14 || p.Off+p.Len > len(p.Buf) || p.OutPort >= flow.NumPorts {
				t.Fatalf("transmitted frame out of bounds: off %d len %d buf %d port %v", p.Off, p.Len, len(p.Buf), p.OutPort)
			}
		case VerdictDrop:
			if p.Reason == DropNone || p.Reason >= NumDrops {
				t.Fatalf("drop without a reason: %v", p.Reason)
			}
		case VerdictPass:
		default:
			t.Fatalf("no verdict: %v", p.Verdict)
		}
	})
}
