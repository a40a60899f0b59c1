package harness

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/xgw-dev/xgw/bench/frames"
	"github.com/xgw-dev/xgw/bench/report"
	"github.com/xgw-dev/xgw/bench/xdpload"
)

// UDP destination port of generated traffic and the first source port.
const (
	genDstPort  = 9000
	genBasePort = 10000
	rttBucketNS = 5000 // 5 µs histogram buckets: 10 ms of range
)

// template builds the frame the chassis would send for the system.
func (c *runCtx) template() ([]byte, xdpload.GenSpec, error) {
	a := c.e.A
	in := frames.Inner{SrcMAC: a.DRJoinMAC, DstMAC: a.GRJoinMAC, Src: a.VMIP, Dst: a.ExtIP,
		SrcPort: genBasePort, DstPort: genDstPort, TTL: 63}
	spec := frames.Layout(c.sys.Geneve(), c.o.Flows, genBasePort)
	if !c.sys.Geneve() {
		// Plain IPv4 from the chassis' underlay MAC straight to the gateway.
		in.SrcMAC, in.DstMAC, in.TTL = a.GenMAC, a.UnderlayMC, 64
		f, err := frames.Plain(in, c.o.Size)
		return f, spec, err
	}
	out := frames.Outer{SrcMAC: a.GenMAC, DstMAC: a.UnderlayMC, Src: a.ChassisIP, Dst: a.VTEP,
		VNI: 1, InPort: 1, Out: 2}
	f, err := frames.Geneve(out, in, c.o.Size)
	return f, spec, err
}

// runUDP is the dperf-like scenario: one-way flood into an XDP sink, or
// request/response against an XDP reflector with an RTT histogram from the
// generator's timestamps, read by the return counter on the generator's
// interface.
func (c *runCtx) runUDP(res *report.Result, rr bool) error {
	frame, spec, err := c.template()
	if err != nil {
		return err
	}
	var far *xdpload.Counter // sink or reflector, in ns ext
	if rr {
		far, err = xdpload.NewReflector()
	} else {
		far, err = xdpload.NewSink()
	}
	if err != nil {
		return err
	}
	defer far.Close()
	_, err = c.flood(res, frame, spec, far, rr)
	return err
}

// flood is the measurement of every generator scenario (udp-oneway,
// udp-rr, fastpath, udp-oneway6): the generator sends frame rewritten per
// spec out of the hypervisor's underlay veth for the run's duration, far
// (the sink or the reflector) counts in ns ext, and the window measures
// the gateway's CPU; res gets delivered pps, loss, the per-core figures,
// the generator-bound verdict and where the loss was. It returns the
// generator's count of frames sent.
func (c *runCtx) flood(res *report.Result, frame []byte, spec xdpload.GenSpec, far *xdpload.Counter, rr bool) (uint64, error) {
	m := res.Metrics
	gen, err := xdpload.NewGenerator(spec, frame)
	if err != nil {
		return 0, err
	}
	defer gen.Close()
	detach, err := attachOne(c.e, RoleExt, c.e.A.SinkIface, far.Prog)
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

	ifBefore := c.e.snapshotIfaces()
	rate := c.o.Rate
	if rr {
		rate = c.o.RRRate
	}
	var sentNow atomic.Uint64
	start := time.Now()
	w, err := c.startWindow(func() string {
		secs := time.Since(start).Seconds()
		f, _ := far.Read()
		return fmt.Sprintf("sent %s pps, %s %s pps", mpps(float64(sentNow.Load())/secs),
			map[bool]string{true: "reflected", false: "delivered"}[rr], mpps(float64(f.Packets)/secs))
	})
	if err != nil {
		return 0, err
	}
	var sent uint64
	err = c.e.Do(RoleGen, func() error {
		var err error
		sent, err = gen.Send(frame, ifindex, xdpload.Pacing{Rate: rate, Duration: c.o.Duration, CPU: c.o.GenCPU,
			Progress: func(n uint64) { sentNow.Store(n) }})
		return err
	})
	secs := time.Since(start).Seconds()
	s0, s1, werr := w.end(m)
	if err != nil {
		return 0, err
	}
	if werr != nil {
		return 0, werr
	}
	time.Sleep(300 * time.Millisecond) // frames still in rings and queues land
	fc, err := far.Read()
	if err != nil {
		return 0, err
	}
	bc, err := back.Read()
	if err != nil {
		return 0, err
	}
	m[report.Sent] = float64(sent)
	ifDelta := ifaceDeltas(ifBefore, c.e.snapshotIfaces())
	res.Raw = map[string]any{"interfaces": ifDelta, "far_end": fc, "returned": bc, "seconds": secs, "frame_bytes": len(frame),
		"gateway_before": s0.Raw, "gateway_after": s1.Raw}
	res.Notes = append(res.Notes, w.napi.notes...)
	if !rr {
		m[report.Delivered] = float64(fc.Packets)
		m[report.PPS] = float64(fc.Packets) / secs
		m[report.Gbps] = float64(fc.Bytes) * 8 / secs / 1e9
		m[report.Loss] = lossOf(sent, fc.Packets)
		perPacket(m, m[report.PPS])
		if m[report.GenBound] > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("generator-bound: %.1f %% loss while the gateway used %.2f cores: the figure is the generator's, not the gateway's limit", 100*m[report.Loss], gatewayWork(m)))
		}
		if note := lossWhere(m, ifDelta, c.e, secs); note != "" {
			res.Notes = append(res.Notes, note)
		}
		fastShare(m, s0, s1, float64(fc.Packets))
		return sent, nil
	}
	m[report.Delivered] = float64(bc.Packets)
	m[report.RRPPS] = float64(bc.Packets) / secs
	m[report.Loss] = lossOf(sent, bc.Packets)
	fastShare(m, s0, s1, float64(fc.Packets+bc.Packets))
	hist, err := back.Histogram()
	if err != nil {
		return 0, err
	}
	for key, p := range map[string]float64{report.RTTP50: 50, report.RTTP90: 90, report.RTTP99: 99} {
		if v, ok := report.Percentile(hist, rttBucketNS/1000.0, p); ok {
			m[key] = v
		}
	}
	if hist[len(hist)-1] > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d responses slower than the histogram's %d µs range",
			hist[len(hist)-1], xdpload.HistBuckets*rttBucketNS/1000))
	}
	return sent, nil
}

func lossOf(sent, got uint64) float64 {
	if sent == 0 {
		return 0
	}
	return max(0, 1-float64(got)/float64(sent))
}

func mpps(v float64) string { return fmt.Sprintf("%.3f M", v/1e6) }
