package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/xgw-dev/xgw/bench/report"
)

// clientRole is where socket clients run: in the VM, through the real OVS
// hypervisor's Geneve tunnel; for the Linux peer (no Geneve) in ns hv from
// the VM's address on br-phy.
func (c *runCtx) clientRole() string {
	if c.sys.Geneve() {
		return RoleVM
	}
	return RoleGen
}

// passBothEnds attaches XDP_PASS to the generator's and the sink's veths
// for socket scenarios: harmless for the stack, and it lets a gateway's
// XDP fast path redirect into them (a veth drops redirected frames when
// its peer end runs no XDP program).
func (c *runCtx) passBothEnds() (func(), error) {
	u1, err := attachPass(c.e, RoleGen, c.e.A.GenIface)
	if err != nil {
		return nil, err
	}
	u2, err := attachPass(c.e, RoleExt, c.e.A.SinkIface)
	if err != nil {
		u1()
		return nil, err
	}
	return func() { u1(); u2() }, nil
}

// iperfResult is the part of `iperf3 -J` used here.
type iperfResult struct {
	End struct {
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
		Sum struct {
			BitsPerSecond float64 `json:"bits_per_second"`
			LostPercent   float64 `json:"lost_percent"`
			Packets       float64 `json:"packets"`
			LostPackets   float64 `json:"lost_packets"`
		} `json:"sum"`
	} `json:"end"`
	Error string `json:"error"`
}

// parseIperf returns delivered Gbit/s and loss (UDP) from iperf3 -J output.
// For TCP, sum_received is what the server got; for UDP, the receiver's
// figures are in sum (packets, lost) and delivered = sent rate × (1-loss).
func parseIperf(out []byte, udp bool) (gbps, loss float64, err error) {
	var r iperfResult
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, 0, fmt.Errorf("iperf3 output: %w", err)
	}
	if r.Error != "" {
		return 0, 0, errors.New("iperf3: " + r.Error)
	}
	if !udp {
		return r.End.SumReceived.BitsPerSecond / 1e9, 0, nil
	}
	loss = r.End.Sum.LostPercent / 100
	return r.End.Sum.BitsPerSecond * (1 - loss) / 1e9, loss, nil
}

func (c *runCtx) runIperf(res *report.Result, udp bool) error {
	if c.e.Lab == nil {
		return errSkip("needs the lab's VM and hypervisor")
	}
	m := res.Metrics
	undo, err := c.passBothEnds()
	if err != nil {
		return err
	}
	defer undo()
	srv, err := c.e.Lab.StartIperfServer()
	if err != nil {
		return err
	}
	defer srv.Stop()
	secs := int(c.o.Duration.Seconds() + 0.5)
	args := []string{"iperf3", "-c", c.e.A.ExtIP.String(), "-p", "5201", "-t", fmt.Sprint(max(secs, 1)), "-J"}
	if udp {
		// Unlimited rate, datagrams that fit the VM's 1400-byte MTU.
		args = append(args, "-u", "-b", "0", "-l", "1300")
	} else {
		args = append(args, "-M", "1300")
	}
	if !c.sys.Geneve() {
		args = append(args, "-B", c.e.A.VMIP.String())
	}
	start := time.Now()
	w, err := c.startWindow(func() string { return "iperf3 running" })
	if err != nil {
		return err
	}
	cmd := c.e.Cmd(c.clientRole(), args...)
	out, runErr := cmd.Output()
	s0, s1, werr := w.end(m)
	res.Raw = map[string]any{"seconds": time.Since(start).Seconds(), "gateway_before": s0.Raw, "gateway_after": s1.Raw}
	if runErr != nil {
		var ee *exec.ExitError
		if errors.As(runErr, &ee) {
			if g, _, perr := parseIperf(out, udp); perr != nil {
				return perr
			} else if g == 0 {
				return fmt.Errorf("iperf3: %v: %s", runErr, tail(string(ee.Stderr), 200))
			}
		}
	}
	if werr != nil {
		return werr
	}
	g, loss, err := parseIperf(out, udp)
	if err != nil {
		return err
	}
	m[report.IperfGbps] = g
	if udp {
		m[report.IperfLoss] = loss
	}
	// Forwarded packets are not counted by iperf3 itself; estimate them
	// from the delivered bytes at 1300-byte payloads (UDP) for the share.
	forwarded := -1.0 // TCP: unknown without the gateway's own counters
	if udp {
		forwarded = g * 1e9 * c.o.Duration.Seconds() / 8 / 1300
	}
	fastShare(m, s0, s1, forwarded)
	return nil
}
