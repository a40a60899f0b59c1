package harness

import (
	"fmt"
	"time"

	"github.com/xgw-dev/xgw/bench/report"
	"github.com/xgw-dev/xgw/bench/xdpload"
)

// Warm-up of the fastpath scenario: every flow is answered by the
// reflector, so that conntrack sees a reply and the flows are established
// (for xgw: promoted as answered UDP, whatever offload.udp_oneway says).
const (
	warmupRate    = 100e3 // pps: well within every system's software path
	warmupPerFlow = 8     // packets per flow during the warm-up
	settleTimeout = 5 * time.Second
)

// settler is a system that can say when its fast path has caught up with
// the flows it saw (xgw: no promotion pending).
type settler interface {
	Settle(flows int, timeout time.Duration) (string, error)
}

// runFastpath is the offload issue's benchmark: establish the flows first
// (answered UDP through the reflector), let the gateway install them, then
// flood the same flows one way into the sink and measure delivered pps as
// in udp-oneway. With xgw-offload every measured packet should take the
// XDP fast path; the criterion compares it with xdp-ceiling and xgw-sw of
// the same run (report.FastpathVerdict).
func (c *runCtx) runFastpath(res *report.Result) error {
	answered, err := c.warmup()
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	res.Metrics[report.WarmupAnswered] = float64(answered)
	if s, ok := c.sys.(settler); ok {
		note, err := s.Settle(c.o.Flows, settleTimeout)
		if note != "" {
			res.Notes = append(res.Notes, note)
		}
		if err != nil {
			return err
		}
	}
	return c.runUDP(res, false)
}

// warmup sends warmupPerFlow packets per flow at warmupRate towards the
// reflector and returns how many answers came back to the generator side.
func (c *runCtx) warmup() (uint64, error) {
	frame, spec, err := c.template()
	if err != nil {
		return 0, err
	}
	gen, err := xdpload.NewGenerator(spec, frame)
	if err != nil {
		return 0, err
	}
	defer gen.Close()
	refl, err := xdpload.NewReflector()
	if err != nil {
		return 0, err
	}
	defer refl.Close()
	detach, err := attachOne(c.e, RoleExt, c.e.A.SinkIface, refl.Prog)
	if err != nil {
		return 0, err
	}
	defer detach()
	back, err := xdpload.NewReturnCounter(rttBucketNS)
	if err != nil {
		return 0, err
	}
	defer back.Close()
	detachBack, err := attachOne(c.e, RoleGen, c.e.A.GenIface, back.Prog)
	if err != nil {
		return 0, err
	}
	defer detachBack()
	ifindex, err := c.e.Ifindex(RoleGen, c.e.A.GenIface)
	if err != nil {
		return 0, err
	}
	d := max(time.Second, time.Duration(float64(c.o.Flows*warmupPerFlow)/warmupRate*float64(time.Second)))
	var sent uint64
	err = c.e.Do(RoleGen, func() error {
		var err error
		sent, err = gen.Send(frame, ifindex, xdpload.Pacing{Rate: warmupRate, Duration: d, CPU: c.o.GenCPU})
		return err
	})
	if err != nil {
		return 0, err
	}
	time.Sleep(200 * time.Millisecond)
	bc, err := back.Read()
	if err != nil {
		return 0, err
	}
	c.progress(fmt.Sprintf("warm-up: %d sent over %s, %d answered", sent, d, bc.Packets))
	return bc.Packets, nil
}
