package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// xgwSystem runs the real gateway binary in ns gw, with its offload fast
// path off or on. "On" measures whatever the binary does with
// offload.enabled: true; nothing here assumes that a fast path exists.
type xgwSystem struct {
	opts    SystemOptions
	offload bool
	// onewayOff sets offload.udp_oneway: false (one-way UDP stays in
	// software, as in OVS).
	onewayOff bool
	env       *Env
	cfg       string
	sock      string
	cmd       *exec.Cmd
	done      chan error
	log       *os.File
}

func (x *xgwSystem) Name() string {
	if x.offload && x.onewayOff {
		return "xgw-offload-oneway-off"
	}
	if x.offload {
		return "xgw-offload"
	}
	return "xgw-sw"
}

func (x *xgwSystem) Geneve() bool                   { return true }
func (x *xgwSystem) Supports(string) (bool, string) { return true, "" }

func (x *xgwSystem) Notes() []string {
	if !x.offload {
		return []string{"offload.enabled: false (every packet through AF_XDP and the Go pipeline)"}
	}
	if x.onewayOff {
		return []string{"offload.enabled: true, udp_oneway: false (one-way UDP is never promoted: it stays in software, as in OVS), pin_path none"}
	}
	return []string{fmt.Sprintf("offload.enabled: true, udp_oneway_packets %d, udp_oneway_ms %d (0 = manager default), pin_path none",
		x.opts.OffloadUDPPackets, x.opts.OffloadUDPMS)}
}

// writeConfig writes the lab's (or the given) config with the offload
// section set for this system.
func (x *xgwSystem) writeConfig() error {
	var src []byte
	var err error
	if x.env.Lab != nil {
		src, err = x.env.Lab.XGWConfig()
	} else if x.opts.XGWConfig != "" {
		src, err = os.ReadFile(x.opts.XGWConfig)
	} else {
		return errors.New("xgw: on real NICs pass --xgw-config")
	}
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return err
	}
	off, _ := doc["offload"].(map[string]any)
	if off == nil {
		off = map[string]any{}
	}
	off["enabled"] = x.offload
	off["udp_oneway_packets"] = x.opts.OffloadUDPPackets
	off["udp_oneway_ms"] = x.opts.OffloadUDPMS
	off["udp_oneway"] = !x.onewayOff
	// Nothing pinned: every run starts from an empty fast path, and the
	// gateway namespace (ip netns exec remounts /sys) has no bpffs anyway.
	off["pin_path"] = "none"
	doc["offload"] = off
	x.sock = filepath.Join(x.env.WorkDir, "xgw-bench.sock")
	doc["control"] = map[string]any{"socket": x.sock}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	x.cfg = filepath.Join(x.env.WorkDir, x.Name()+".yaml")
	return os.WriteFile(x.cfg, out, 0o644)
}

func (x *xgwSystem) Start(e *Env) error {
	x.env = e
	if e.XGWBin == "" {
		return errors.New("xgw: no binary (--xgw)")
	}
	if err := x.writeConfig(); err != nil {
		return err
	}
	var err error
	x.log, err = os.Create(filepath.Join(e.WorkDir, x.Name()+".log"))
	if err != nil {
		return err
	}
	x.cmd = e.Cmd(RoleGW, tasksetArgs(x.opts.GatewayCPU, e.XGWBin, "run", "--config", x.cfg)...)
	x.cmd.Stdout, x.cmd.Stderr = x.log, x.log
	if err := x.cmd.Start(); err != nil {
		return err
	}
	x.done = make(chan error, 1)
	go func() { x.done <- x.cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := x.stats(); err == nil {
			return nil
		}
		select {
		case err := <-x.done:
			x.cmd = nil
			b, _ := os.ReadFile(x.log.Name())
			return fmt.Errorf("xgw exited during start: %v: %s", err, tail(string(b), 400))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			x.Stop()
			return errors.New("xgw: control socket did not answer within 20s")
		}
	}
}

func (x *xgwSystem) Stop() error {
	defer func() {
		if x.log != nil {
			x.log.Close()
		}
	}()
	if x.cmd == nil {
		return nil
	}
	x.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-x.done:
	case <-time.After(15 * time.Second):
		x.cmd.Process.Kill()
		<-x.done
		err = errors.New("xgw: killed after 15s without exiting on SIGTERM")
	}
	x.cmd = nil
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == -1 {
		err = nil // died of our SIGTERM without handling it: still stopped
	}
	return err
}

func (x *xgwSystem) PIDs() []int {
	if x.cmd == nil || x.cmd.Process == nil {
		return nil
	}
	return []int{x.cmd.Process.Pid}
}

func (x *xgwSystem) stats() (map[string]any, error) {
	out, err := exec.Command(x.env.XGWBin, "--control-socket", x.sock, "stats", "--json").Output()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(out, &m)
}

// Sample reads `xgw stats --json`: conntrack entries and the packets the
// software pipeline forwarded (egress + ingress). A fast path, if the
// binary has one, shows up as packets delivered that the pipeline never
// counted, and in its own XDP counters when it exports them.
func (x *xgwSystem) Sample() Sample {
	m, err := x.stats()
	if err != nil {
		return unknownSample()
	}
	return sampleOf(m)
}

// sampleOf is Sample's reading of one `xgw stats --json` document; both
// families count (conntrack6, the fast path's IPv6 hits).
func sampleOf(m map[string]any) Sample {
	s := unknownSample()
	if v, ok := dig(m, "conntrack", "Entries"); ok {
		s.TableEntries = v
	} else if v, ok := dig(m, "conntrack", "entries"); ok {
		s.TableEntries = v
	}
	if v, ok := dig(m, "conntrack6", "Entries"); ok && s.TableEntries >= 0 {
		s.TableEntries += v
	}
	eg, ok1 := dig(m, "pipeline", "egress")
	in, ok2 := dig(m, "pipeline", "ingress")
	if ok1 && ok2 {
		s.Software = eg + in
	}
	// xdp[].stats.FastPath.{HitEgress,HitIngress}.Packets, when the binary
	// has a fast path. The interfaces share one per-CPU map, so every
	// entry shows the same totals: take the largest, do not add.
	if xs, ok := m["xdp"].([]any); ok {
		for _, x := range xs {
			xm, _ := x.(map[string]any)
			eg, ok1 := dig(xm, "stats", "FastPath", "HitEgress", "Packets")
			in, ok2 := dig(xm, "stats", "FastPath", "HitIngress", "Packets")
			eg6, _ := dig(xm, "stats", "FastPath", "HitEgress6", "Packets")
			in6, _ := dig(xm, "stats", "FastPath", "HitIngress6", "Packets")
			if ok1 && ok2 && eg+in+eg6+in6 > s.Fast {
				s.Fast = eg + in + eg6 + in6
			}
		}
	}
	s.Raw = map[string]any{}
	for k, v := range m {
		if k == "pipeline" || k == "conntrack" || k == "offload" || k == "fastpath" || k == "xdp" {
			s.Raw[k] = v
		}
	}
	return s
}

// dig walks nested JSON objects to a number.
func dig(m map[string]any, path ...string) (float64, bool) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return 0, false
		}
		cur = mm[p]
	}
	v, ok := cur.(float64)
	return v, ok
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Settle waits until xgw's offload manager has nothing pending and has
// offloaded at least flows connections (or timeout), and says what it saw.
// With offload off it returns at once.
func (x *xgwSystem) Settle(flows int, timeout time.Duration) (string, error) {
	if !x.offload {
		return "", nil
	}
	start := time.Now()
	var pending, offloaded float64
	for {
		m, err := x.stats()
		if err != nil {
			return "", fmt.Errorf("settle: %w", err)
		}
		off, _ := m["offload"].(map[string]any)
		pending, _ = dig(off, "pending")
		offloaded, _ = dig(off, "offloaded")
		if pending == 0 && offloaded >= float64(flows) {
			return fmt.Sprintf("fast path settled after the warm-up in %s: %.0f connections offloaded, 0 pending",
				time.Since(start).Round(10*time.Millisecond), offloaded), nil
		}
		if time.Since(start) > timeout {
			return fmt.Sprintf("fast path NOT settled %s after the warm-up: %.0f of %d connections offloaded, %.0f pending",
				timeout, offloaded, flows, pending), nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
