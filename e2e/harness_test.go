package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
)

// xgwBin is the xgw binary built once for the package (TestMain).
var xgwBin string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			fmt.Fprintln(os.Stderr, "e2e: SKIPPING every test: needs root (network namespaces, XDP, AF_XDP). CI runs as root.")
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "xgw-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		xgwBin = filepath.Join(dir, "xgw")
		build := exec.Command("go", "build", "-o", xgwBin, "../cmd/xgw")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building xgw:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root for network namespaces, XDP and AF_XDP (CI runs as root)")
	}
}

// gateway is a lab with xgw running in its gw namespace.
type gateway struct {
	t      *testing.T
	lab    *lab.Lab
	addrs  lab.LabAddrs
	config string
	socket string
	cmd    *exec.Cmd
	logs   *syncBuffer
	done   chan error
	pinDir string // the fast path's pins, with gwOptions.pin
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGateway brings a lab up and starts xgw in it; both are torn down
// when the test ends, whatever happens.
func startGateway(t *testing.T) *gateway { return startGatewayWith(t, gwOptions{}) }

// gwOptions vary the lab's xgw configuration.
type gwOptions struct {
	// mutate edits the lab's YAML before xgw reads it.
	mutate func(yaml string) string
	// pin mounts a bpffs in the lab's work dir and pins the fast path
	// there (ip netns exec has no /sys/fs/bpf), for restart tests.
	pin bool
	// vms is the number of VM namespaces (default 1).
	vms int
	// dualStack and underlay6 are lab.Options' DualStack and Underlay6
	// (e2e/ipv6_test.go).
	dualStack, underlay6 bool
}

func startGatewayWith(t *testing.T, o gwOptions) *gateway {
	t.Helper()
	g := newLabGatewayWith(t, lab.Options{Log: t.Logf, VMs: o.vms, DualStack: o.dualStack, Underlay6: o.underlay6})
	y, err := g.lab.XGWConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(y)
	if o.pin {
		g.pinDir = filepath.Join(g.mountBPFFS(), "xgw")
		cfg = replaceOnce(t, cfg, "pin_path: none", "pin_path: "+g.pinDir)
	}
	if o.mutate != nil {
		cfg = o.mutate(cfg)
	}
	if err := os.WriteFile(g.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	g.start()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("xgw log:\n%s", g.logs.String())
		}
	})
	return g
}

// newLabGateway brings a lab up (torn down when the test ends) and returns
// its gateway, xgw not started: startGatewayWith's first half, for tests
// that prepare the gateway namespace themselves.
func newLabGateway(t *testing.T) *gateway {
	t.Helper()
	return newLabGatewayWith(t, lab.Options{Log: t.Logf})
}

// newLabGatewayWith is newLabGateway with the lab's options.
func newLabGatewayWith(t *testing.T, opts lab.Options) *gateway {
	t.Helper()
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, opts)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	g := &gateway{t: t, lab: l, addrs: l.Config(), logs: &syncBuffer{}}
	g.config = filepath.Join(g.addrs.WorkDir, "xgw.yaml")
	g.socket = filepath.Join(g.addrs.WorkDir, "xgw.sock")
	return g
}

// mountBPFFS mounts a bpffs in the lab's work dir (ip netns exec has no
// /sys/fs/bpf) and returns it; unmounting at the end drops every pin in
// it, which detaches pinned links.
func (g *gateway) mountBPFFS() string {
	t := g.t
	dir := filepath.Join(g.addrs.WorkDir, "bpffs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "bpf", "bpf", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount bpffs at %s: %v %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

func (g *gateway) start() {
	t := g.t
	g.cmd = g.lab.Exec("gw", xgwBin, "run", "--config", g.config, "--log-level", "debug")
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start xgw: %v", err)
	}
	g.done = make(chan error, 1)
	go func() { g.done <- g.cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := g.xgw("stats", "--json"); err == nil {
			return
		}
		select {
		case err := <-g.done:
			t.Fatalf("xgw exited during start: %v\n%s", err, g.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("xgw did not answer on %s within 20s\n%s", g.socket, g.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gateway) stop() error {
	if g.cmd == nil || g.cmd.Process == nil {
		return nil
	}
	select {
	case err := <-g.done:
		g.cmd = nil
		return fmt.Errorf("xgw had already exited: %v", err)
	default:
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-g.done:
	case <-time.After(15 * time.Second):
		g.cmd.Process.Kill()
		err = fmt.Errorf("xgw did not exit within 15s of SIGTERM")
		<-g.done
	}
	g.cmd = nil
	return err
}

// xgw runs an xgw CLI command against the running gateway.
func (g *gateway) xgw(args ...string) (string, error) {
	full := append([]string{xgwBin, "--control-socket", g.socket}, args...)
	out, err := exec.Command(full[0], full[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("xgw %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// stats returns the gateway's stats document.
func (g *gateway) stats() map[string]any {
	g.t.Helper()
	out, err := g.xgw("stats", "--json")
	if err != nil {
		g.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		g.t.Fatalf("stats json: %v\n%s", err, out)
	}
	return m
}

// run runs a command in a lab namespace and returns its output.
func (g *gateway) run(role string, args ...string) (string, error) {
	out, err := g.lab.Exec(role, args...).CombinedOutput()
	return string(out), err
}

// replaceOnce replaces old in s, failing the test if it is not there.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("config has no %q to replace:\n%s", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

// kill9 kills xgw without letting it clean up, as a crash would.
func (g *gateway) kill9() {
	g.cmd.Process.Kill()
	<-g.done
	g.cmd = nil
}

// pid is the running xgw's process id.
func (g *gateway) pid() int { return g.cmd.Process.Pid }

// iperf3Run is what the tests read of one iperf3 -J client run.
type iperf3Run struct {
	Mbps, MB   float64
	Peer       string // the client address the server saw
	ServerText string
}

// iperf3 runs an iperf3 TCP client in the VM against ext for secs
// seconds (reverse: -R), failing the test if it does not complete.
func (g *gateway) iperf3(t *testing.T, ext string, secs int, reverse bool) iperf3Run {
	t.Helper()
	return g.iperf3From(t, "vm", ext, secs, reverse)
}

// iperf3From is iperf3 from the VM role (e.g. the dual-stack lab's vmr);
// ext may be an IPv6 address.
func (g *gateway) iperf3From(t *testing.T, role, ext string, secs int, reverse bool) iperf3Run {
	t.Helper()
	args := []string{"iperf3", "-c", ext, "-t", strconv.Itoa(secs), "-J", "--get-server-output", "--connect-timeout", "5000"}
	if reverse {
		args = append(args, "-R")
	}
	out, err := g.run(role, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	var res struct {
		End struct {
			SumReceived struct {
				Bytes         float64 `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		// The lab's server runs without -J, so its view comes as text:
		// "Accepted connection from 203.0.113.10, port 40012".
		ServerText string `json:"server_output_text"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("iperf3 json: %v\n%s", err, out)
	}
	return iperf3Run{Mbps: res.End.SumReceived.BitsPerSecond / 1e6, MB: res.End.SumReceived.Bytes / 1e6,
		Peer: acceptedFrom(res.ServerText), ServerText: res.ServerText}
}
