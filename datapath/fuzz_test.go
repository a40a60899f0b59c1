package datapath

import (
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// FuzzPipeline feeds arbitrary frames to both ports of a pipeline loaded
// with the seed topology. Every frame must end in one verdict, and a
// transmitted frame must lie inside its buffer.
func FuzzPipeline(f *testing.F) {
	f.Add(seedtest.Egress(f, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 47190, DPort: 22, SYN: true}), false)
	f.Add(seedtest.Egress(f, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5000, DPort: 53}), false)
	f.Add(seedtest.Egress(f, seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 9}), false)
	f.Add(seedtest.Reply(f, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 22, DPort: 47190, SYN: true, ACK: true}), true)
	f.Add(seedtest.Reply(f, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5000}), true)
	h := newHarness(f, seedtest.ConfigPath(), conntrack.Config{Capacity: 4096})
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
