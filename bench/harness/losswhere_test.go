package harness

import (
	"math"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/bench/report"
)

// lossWhere says where packets were lost, computes the gateway's output
// per core, and notes a sink-bound run only when the gateway had idle
// time and lost more after itself than at its ingress. The
// figures are xdp-ceiling's and xgw-offload's of a real fastpath run
// (2026-12-07, 5 s).
func TestLossWhere(t *testing.T) {
	e := &Env{A: Addrs{GenIface: "hv-u", External: "gw-x"}}
	for _, c := range []struct {
		name                string
		gwCores, sent       float64
		genDrop, tx, txDrop float64
		sinkBound           bool
	}{
		// The ceiling: 0.64 cores, 9 % lost at its ingress, 42 % of its
		// output dropped at the sink.
		{"sink-bound ceiling", 0.64, 5.82e6, 0.54e6, 3.07e6, 2.21e6, true},
		// xgw-offload of the same run: its CPU was full (0.95 cores).
		{"saturated gateway", 0.95, 4.45e6, 0.46e6, 3.0e6, 0.97e6, false},
		// Idle gateway that dropped at its own ingress: it fell behind.
		{"behind at ingress", 0.6, 5e6, 1e6, 3e6, 0.2e6, false},
		// Nothing lost after the gateway.
		{"clean", 0.5, 3e6, 0, 3e6, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := map[string]float64{report.GWNapiCores: c.gwCores, report.Sent: c.sent}
			d := map[string]map[string]float64{
				"hv-u": {"dev_tx_dropped": c.genDrop},
				"gw-x": {"dev_tx_packets": c.tx, "dev_tx_dropped": c.txDrop},
			}
			note := lossWhere(m, d, e, 5)
			if got := strings.HasPrefix(note, "sink-bound"); got != c.sinkBound {
				t.Fatalf("sink-bound %v, want %v (note %q)", got, c.sinkBound, note)
			}
			wantOut := (c.tx + c.txDrop) / 5
			if math.Abs(m[GWOutPPS]-wantOut) > 1 || math.Abs(m[GWOutPerCore]-wantOut/c.gwCores) > 1 {
				t.Fatalf("gateway output %v pps, %v per core; want %v, %v", m[GWOutPPS], m[GWOutPerCore], wantOut, wantOut/c.gwCores)
			}
			if m[LostBeforeGW] != c.genDrop/5 || m[LostAfterGW] != c.txDrop/5 {
				t.Fatalf("lost before %v after %v", m[LostBeforeGW], m[LostAfterGW])
			}
		})
	}
}
