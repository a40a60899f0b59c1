package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// XGW is an xgw process the OVN lab runs in ns gw (for tools; the e2e
// tests keep their own harness).
type XGW struct {
	Bin, Config, Socket, LogPath string
	cmd                          *exec.Cmd
	exited                       chan error
}

// StartXGW writes the lab's OVN-mode config and starts bin in ns gw,
// logging to <workdir>/xgw.log; it returns once the control socket answers.
func (o *OVN) StartXGW(ctx context.Context, bin string) (*XGW, error) {
	x := &XGW{Bin: bin, Config: filepath.Join(o.addrs.WorkDir, "xgw.yaml"), Socket: o.XGWSocket(),
		LogPath: filepath.Join(o.addrs.WorkDir, "xgw.log")}
	if err := o.WriteXGWConfig(x.Config); err != nil {
		return nil, err
	}
	logf, err := os.Create(x.LogPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	x.cmd = o.Exec("gw", bin, "run", "--config", x.Config)
	x.cmd.Stdout, x.cmd.Stderr = logf, logf
	if err := x.cmd.Start(); err != nil {
		return nil, err
	}
	x.exited = make(chan error, 1)
	go func() { x.exited <- x.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := x.CLI("stats", "--json"); err == nil {
			return x, nil
		}
		select {
		case err := <-x.exited:
			b, _ := os.ReadFile(x.LogPath)
			return nil, fmt.Errorf("xgw exited: %v\n%s", err, b)
		case <-ctx.Done():
			x.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			x.Stop()
			return nil, fmt.Errorf("xgw did not answer on %s within 30s (log %s)", x.Socket, x.LogPath)
		}
	}
}

// Pid is xgw's process id (ip netns exec execs it).
func (x *XGW) Pid() int { return x.cmd.Process.Pid }

// CLI runs an xgw client command against it.
func (x *XGW) CLI(args ...string) (string, error) {
	out, err := exec.Command(x.Bin, append([]string{"--control-socket", x.Socket}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("xgw %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Stop sends SIGTERM and waits (SIGKILL after 15 s).
func (x *XGW) Stop() error {
	select {
	case err := <-x.exited:
		x.exited <- err
		return errors.New("xgw had already exited")
	default:
	}
	x.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-x.exited:
		x.exited <- err
		return nil
	case <-time.After(15 * time.Second):
		x.cmd.Process.Kill()
		return errors.New("xgw did not stop within 15s of SIGTERM")
	}
}

// Memory returns xgw's resident set now and its peak (VmRSS, VmHWM) in KiB.
func (x *XGW) Memory() (rss, hwm int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", x.Pid()))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			fmt.Sscanf(strings.TrimSpace(v), "%d", &rss)
		}
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			fmt.Sscanf(strings.TrimSpace(v), "%d", &hwm)
		}
	}
	return rss, hwm, nil
}

// ClaimedBy counts the SB Port_Bindings whose chassis is name.
func (o *OVN) ClaimedBy(ctx context.Context, name string) (int, error) {
	res, err := ovsdbTransact(ctx, o.Plan.SBSock, "OVN_Southbound", []any{map[string]any{"op": "select", "table": "Chassis",
		"where": []any{[]any{"name", "==", name}}, "columns": []string{"_uuid"}}})
	if err != nil {
		return 0, err
	}
	var ch struct {
		Rows []struct {
			UUID []string `json:"_uuid"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(res[0], &ch); err != nil || len(ch.Rows) != 1 || len(ch.Rows[0].UUID) != 2 {
		return 0, nil // not registered (yet)
	}
	res, err = ovsdbTransact(ctx, o.Plan.SBSock, "OVN_Southbound", []any{map[string]any{"op": "select", "table": "Port_Binding",
		"where": []any{[]any{"chassis", "==", realUUID(ch.Rows[0].UUID[1])}}, "columns": []string{"_uuid"}}})
	if err != nil {
		return 0, err
	}
	var pb struct {
		Rows []json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(res[0], &pb); err != nil {
		return 0, err
	}
	return len(pb.Rows), nil
}

// ScaleMeasure is what MeasureXGWScale saw.
type ScaleMeasure struct {
	Claimed        time.Duration   // xgw start -> every gateway port binding claimed
	Shown          time.Duration   // xgw start -> `xgw show` lists the last router's SNAT address
	RSSKiB, HWMKiB int             // after the sync
	ShowTook       time.Duration   // one `xgw show` call (the poll's granularity)
	NATAdd         []time.Duration // lr-nat-add -> `xgw show` lists the new rule, per sample
	NATDel         []time.Duration // lr-nat-del -> the rule gone from `xgw show`, per sample
}

// Median of ds (0 if empty).
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// MeasureXGWScale starts xgw on a lab filled by FillScale and measures its
// initial sync (all 4 port bindings per gateway router claimed; `xgw show`
// listing the last router's SNAT address), its memory after the sync, and
// for samples routers the time from `ovn-nbctl lr-nat-add` of a new
// dnat_and_snat to `xgw show` listing it (and from lr-nat-del to its
// absence). Every wait is bounded by timeout.
func (o *OVN) MeasureXGWScale(ctx context.Context, bin string, s ScaleOptions, samples int, timeout time.Duration, logf func(string, ...any)) (ScaleMeasure, *XGW, error) {
	s.defaults()
	var m ScaleMeasure
	t0 := time.Now()
	x, err := o.StartXGW(ctx, bin)
	if err != nil {
		return m, nil, err
	}
	wait := func(what string, cond func() (bool, string)) (time.Duration, error) {
		for {
			ok, seen := cond()
			if ok {
				return time.Since(t0), nil
			}
			if time.Since(t0) > timeout {
				return 0, fmt.Errorf("%s: not within %v (last seen: %s)", what, timeout, seen)
			}
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	want := 4 * s.Routers
	if m.Claimed, err = wait("claiming the gateway routers", func() (bool, string) {
		n, err := o.ClaimedBy(ctx, GatewayChassis)
		return err == nil && n >= want, fmt.Sprintf("%d of %d claimed (%v)", n, want, err)
	}); err != nil {
		return m, x, err
	}
	logf("all %d gateway port bindings claimed %v after start", want, m.Claimed)
	last := ScaleExternalIP(s.Routers - 1).String()
	if m.Shown, err = wait("xgw show listing "+last, func() (bool, string) {
		out, err := x.CLI("show")
		return err == nil && strings.Contains(out, last), fmt.Sprintf("%d bytes, err %v", len(out), err)
	}); err != nil {
		return m, x, err
	}
	logf("xgw show lists %s %v after start", last, m.Shown)
	m.RSSKiB, m.HWMKiB, _ = x.Memory()
	ts := time.Now()
	x.CLI("show")
	m.ShowTook = time.Since(ts)
	for k := 0; k < samples; k++ {
		r := (s.Routers / 2) + k
		if r >= s.Routers {
			break
		}
		a, b := scaleSubnet(r)
		ext := fmt.Sprintf("198.19.250.%d", k+1)
		t0 = time.Now()
		if _, err := o.NBCtl(ctx, "lr-nat-add", ScaleRouterName(r), "dnat_and_snat", ext, fmt.Sprintf("10.%d.%d.10", a, b)); err != nil {
			return m, x, err
		}
		d, err := wait("lr-nat-add "+ext, func() (bool, string) {
			out, err := x.CLI("show")
			return err == nil && strings.Contains(out, ext), fmt.Sprint(err)
		})
		if err != nil {
			return m, x, err
		}
		m.NATAdd = append(m.NATAdd, d)
		t0 = time.Now()
		if _, err := o.NBCtl(ctx, "lr-nat-del", ScaleRouterName(r), "dnat_and_snat", ext); err != nil {
			return m, x, err
		}
		d, err = wait("lr-nat-del "+ext, func() (bool, string) {
			out, err := x.CLI("show")
			return err == nil && !strings.Contains(out, ext), fmt.Sprint(err)
		})
		if err != nil {
			return m, x, err
		}
		m.NATDel = append(m.NATDel, d)
		logf("%s: lr-nat-add live in %v, lr-nat-del gone in %v", ScaleRouterName(r), m.NATAdd[k], d)
	}
	return m, x, nil
}
