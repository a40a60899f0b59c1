package harness

import (
	"fmt"

	"github.com/xgw-dev/xgw/bench/report"
)

// Where a one-way run lost its packets, from the path interfaces'
// counter deltas (ifaceDeltas): the generator's veth could not hand them
// to the gateway's ingress ring (the gateway was behind), or the gateway's
// egress veth could not hand them to the sink's ring (the sink, which
// shares its CPU with the generator, was behind). Metrics, in pps:
const (
	// LostBeforeGW: dropped on the generator's transmit into the gateway.
	LostBeforeGW = "lost_before_gw_pps"
	// LostAfterGW: forwarded by the gateway, dropped on the way into the
	// sink.
	LostAfterGW = "lost_after_gw_pps"
	// GWOutPPS: what the gateway sent out of its egress interface,
	// delivered or dropped after it.
	GWOutPPS = "gw_out_pps"
	// GWOutPerCore: GWOutPPS per gateway core, the gateway's own rate
	// when the sink was the one behind.
	GWOutPerCore = "gw_out_pps_per_gw_core"
)

// sinkBoundLoss: more than this share of what the gateway forwarded lost
// after it makes a row sink-bound when the gateway also had idle time
// (genBoundGW) and lost fewer at its ingress than after it (an idle
// gateway still drops a little at its ingress when the generator's
// bursts outrun its NAPI thread's wake-up).
const sinkBoundLoss = 0.01

// lossWhere fills the metrics above from the interface deltas d of a run
// of secs seconds, and returns a note when the sink rather than the
// gateway set the delivered rate: pps per gw core (delivered / gateway
// cores) then understates the gateway, which also did the work for the
// packets the sink dropped.
func lossWhere(m map[string]float64, d map[string]map[string]float64, e *Env, secs float64) string {
	gen, out := d[e.A.GenIface], d[e.A.External]
	if out == nil || secs <= 0 {
		return ""
	}
	before := gen["dev_tx_dropped"] / secs
	after := out["dev_tx_dropped"] / secs
	fwd := out["dev_tx_packets"]/secs + after
	m[LostBeforeGW], m[LostAfterGW], m[GWOutPPS] = before, after, fwd
	gw := gatewayWork(m)
	if gw > 0 {
		m[GWOutPerCore] = fwd / gw
	}
	sent := m[report.Sent] / secs
	if fwd <= 0 || after/fwd <= sinkBoundLoss || gw >= genBoundGW || before >= after {
		return ""
	}
	return fmt.Sprintf("sink-bound: the gateway forwarded %s pps on %.2f cores (%.1f %% of what was sent dropped at its ingress), "+
		"%.1f %% of its output was dropped on the way into the sink: delivered-based figures understate it; its output per core was %s pps",
		mpps(fwd), gw, 100*before/max(sent, 1), 100*after/fwd, mpps(m[GWOutPerCore]))
}
