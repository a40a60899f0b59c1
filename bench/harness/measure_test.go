package harness

import (
	"math"
	"testing"

	"github.com/xgw-dev/xgw/bench/report"
)

// The per-packet figures count the gateway's NAPI threads and leftover
// softirq with its processes, and a run is generator-bound only when the
// gateway both kept up and had idle time.
func TestPerPacket(t *testing.T) {
	for _, c := range []struct {
		name                   string
		gw, napi, softirq, pps float64
		loss                   float64
		perCore, nsPerPkt      float64
		bound                  bool
	}{
		// 0.5 + 0.25 + 0.25 = 1 core for 1 Mpps: 1000 ns a packet.
		{"saturated", 0.5, 0.25, 0.25, 1e6, 0.2, 1e6, 1000, false},
		// Nothing lost and the gateway half idle: the generator's limit.
		{"generator-bound", 0.3, 0.2, 0, 500e3, 0.001, 1e6, 1000, true},
		// Nothing lost but the gateway busy: balanced, not marked.
		{"kept up at full load", 0.7, 0.25, 0, 900e3, 0, 900e3 / 0.95, 0.95e9 / 900e3, false},
		// Idle gateway that lost packets: not the generator's limit.
		{"lossy", 0.2, 0.1, 0, 100e3, 0.3, 100e3 / 0.3, 3000, false},
	} {
		m := map[string]float64{report.GWCores: c.gw, report.GWNapiCores: c.napi, report.SoftIRQCores: c.softirq, report.Loss: c.loss}
		perPacket(m, c.pps)
		if math.Abs(m[report.PPSPerCore]-c.perCore) > 1e-6*c.perCore || math.Abs(m[report.GWNsPerPkt]-c.nsPerPkt) > 1e-6*c.nsPerPkt {
			t.Errorf("%s: per core %v, ns/pkt %v; want %v, %v", c.name, m[report.PPSPerCore], m[report.GWNsPerPkt], c.perCore, c.nsPerPkt)
		}
		if got := m[report.GenBound] > 0; got != c.bound {
			t.Errorf("%s: generator-bound %v, want %v", c.name, got, c.bound)
		}
	}
}
