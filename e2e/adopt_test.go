package e2e

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xgw-dev/xgw/config"
)

// TestAdoptOperatorXDP is the operator workflow of bpf/README.md in the
// lab: the committed object loaded with `ip link` on both of the
// gateway's interfaces (maps pinned by name on a bpffs in the lab's work
// dir: ip -n has no /sys/fs/bpf), xgw run with xdp.attach: adopt; traffic
// from the VM through OVS and xgw is forwarded and offloaded into the
// operator's maps; when xgw stops the operator's programs stay attached.
func TestAdoptOperatorXDP(t *testing.T) {
	needRoot(t)
	obj, err := filepath.Abs("../bpf/gw_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	g := newLabGateway(t)
	l, a := g.lab, g.addrs
	gwNS := a.Namespaces["gw"]
	ifaces := []string{a.GWUnderlay, a.GWExternal}

	// The operator's part.
	bpffs := g.mountBPFFS()
	ipLink := func(args ...string) (string, error) {
		cmd := exec.Command("ip", append([]string{"-n", gwNS, "link"}, args...)...)
		cmd.Env = append(os.Environ(), "TC_BPF_MNT="+bpffs) // iproute2's bpffs
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	progs := map[string]string{}
	for _, dev := range ifaces {
		if out, err := ipLink("set", "dev", dev, "xdpdrv", "object", obj, "section", "xdp"); err != nil {
			t.Fatalf("ip link set dev %s xdpdrv object %s section xdp: %v\n%s", dev, obj, err, out)
		}
		t.Cleanup(func() { ipLink("set", "dev", dev, "xdpdrv", "off") }) // before the umount
		progs[dev] = xdpProgID(t, ipLink, dev)
	}
	pins := filepath.Join(bpffs, "xdp", "globals")
	for _, m := range []string{"xgw_config", "xgw_flows", "xgw_xsks", "xgw_nat_addrs", "xgw_tx_ports", "xgw_vteps"} {
		if _, err := os.Stat(filepath.Join(pins, m)); err != nil {
			t.Fatalf("ip link did not pin %s: %v", m, err)
		}
	}

	// xgw, adopting them.
	y, err := l.XGWConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(y) + "xdp:\n  attach: adopt\n  pin_path: " + pins + "\n"
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
	for _, dev := range ifaces {
		if id := xdpProgID(t, ipLink, dev); id != progs[dev] {
			t.Fatalf("xgw replaced the program on %s: id %s, the operator's was %s", dev, id, progs[dev])
		}
	}

	// The operator's fast path takes Geneve from exactly the chassis.
	t.Run("vteps", func(t *testing.T) {
		c, err := config.Load(g.config)
		if err != nil {
			t.Fatal(err)
		}
		var want []netip.Addr
		for _, ch := range c.Chassis {
			want = append(want, ch.IP.Value())
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(pins, "xgw_vteps"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		var got []netip.Addr
		var k [4]byte
		var v uint32
		for it := m.Iterate(); it.Next(&k, &v); {
			got = append(got, netip.AddrFrom4(k))
		}
		slices.SortFunc(want, netip.Addr.Compare)
		slices.SortFunc(got, netip.Addr.Compare)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Fatalf("xgw_vteps %v, want the chassis %v", got, want)
		}
	})

	ext := a.ExtIP.String()
	t.Run("ping", func(t *testing.T) {
		g.run("vm", "ping", "-c", "2", "-W", "1", ext) // next hops resolve
		out, err := g.run("vm", "ping", "-c", "3", "-i", "0.2", "-W", "2", ext)
		if err != nil || !strings.Contains(out, "3 received") {
			t.Fatalf("ping VM -> ext through OVS and the adopted xgw: %v\n%s", err, out)
		}
	})

	t.Run("iperf3-offloaded", func(t *testing.T) {
		srv, err := g.lab.StartIperfServer()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		before := g.fp()
		type result struct {
			out string
			err error
		}
		done := make(chan result, 1)
		go func() {
			out, err := g.run("vm", "iperf3", "-c", ext, "-t", "2", "-J")
			done <- result{out, err}
		}()
		maxOffloaded := 0
		var r result
	wait:
		for {
			select {
			case r = <-done:
				break wait
			case <-time.After(200 * time.Millisecond):
				maxOffloaded = max(maxOffloaded, g.fp().offloaded)
			}
		}
		if r.err != nil {
			t.Fatalf("iperf3: %v\n%s", r.err, r.out)
		}
		var res struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
		}
		if err := json.Unmarshal([]byte(r.out), &res); err != nil {
			t.Fatalf("iperf3 json: %v\n%s", err, r.out)
		}
		mbps := res.End.SumReceived.BitsPerSecond / 1e6
		after := g.fp()
		hits, sw := after.hits-before.hits, after.swTX-before.swTX
		t.Logf("iperf3 2 s: %.0f Mbit/s received; %d packets by the operator's XDP fast path, %d by the software pipeline; up to %d connections offloaded",
			mbps, hits, sw, maxOffloaded)
		if mbps < 1 {
			t.Fatalf("iperf3 carried %.3f Mbit/s", mbps)
		}
		if maxOffloaded == 0 {
			t.Fatal("no connection was offloaded during the run")
		}
		if hits == 0 {
			t.Fatal("no fast-path hits: the flows were not forwarded by the adopted program")
		}
	})

	t.Run("stop-detaches-nothing", func(t *testing.T) {
		if err := g.stop(); err != nil {
			t.Fatalf("xgw stop: %v", err)
		}
		for _, dev := range ifaces {
			if id := xdpProgID(t, ipLink, dev); id != progs[dev] {
				t.Fatalf("after xgw stopped, %s runs program %q, want the operator's %s", dev, id, progs[dev])
			}
		}
		if !strings.Contains(g.logs.String(), "XDP left attached") {
			t.Errorf("xgw did not say it left the operator's XDP attached:\n%s", g.logs.String())
		}
	})
}

// xdpProgID is the id of the XDP program on dev ("" if none), from ip link.
func xdpProgID(t *testing.T, ipLink func(...string) (string, error), dev string) string {
	t.Helper()
	out, err := ipLink("show", "dev", dev)
	if err != nil {
		t.Fatalf("ip link show %s: %v\n%s", dev, err, out)
	}
	m := regexp.MustCompile(`prog/xdp id (\d+)`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestOffloadRestart6 is TestOffloadRestart over IPv6 (the dual-stack
// lab, NAT66): xgw is killed with SIGKILL during an iperf3 -6 run; the
// pinned fast path keeps the offloaded IPv6 connection forwarding, and the
// next xgw adopts it into its IPv6 conntrack (once per zone) instead of
// sending it back to software, then withdraws it when iperf3 is done.
func TestOffloadRestart6(t *testing.T) {
	g := startGatewayWith(t, gwOptions{pin: true, dualStack: true})
	ext := g.addrs.V6.ExtIP
	srv, err := g.lab.StartIperfServerAt(ext)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	g.run("vm", "ping", "-6", "-c", "2", "-W", "1", ext.String()) // next hops resolve
	type result struct {
		iv  []float64
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := g.run("vm", "iperf3", "-c", ext.String(), "-J", "-t", "8", "-i", "0.5", "--cport", "40778")
		done <- result{iperfIntervals(out), out, err}
	}()
	waitFor(t, 4*time.Second, func() bool { return g.fp().offloaded >= 2 }, "the iperf3 -6 connections to be offloaded")
	// The fast path carries the connection before the kill.
	hits0 := g.fp().hits
	waitFor(t, 4*time.Second, func() bool { return g.fp().hits > hits0+1000 }, "the offloaded iperf3 -6 connection to take the fast path")
	if n := pinnedEntries(t, g.pinDir, "xgw_flows6"); n == 0 {
		t.Fatal("nothing offloaded in xgw_flows6 before the kill")
	}
	g.kill9()
	t.Log("xgw killed with SIGKILL")
	time.Sleep(2 * time.Second) // forwarding by the pinned fast path alone
	g.start()
	c := g.fp()
	t.Logf("restarted xgw adopted %d connections", c.adopted)
	if c.adopted == 0 {
		t.Fatalf("the restarted xgw adopted nothing from the pinned IPv6 fast path:\n%s", g.logs.String())
	}
	off, ok := g.stats()["offload"].(map[string]any)
	if !ok {
		t.Fatal("xgw stats --json has no offload section")
	}
	if f, _ := off["adopt_failed"].(float64); f != 0 {
		t.Errorf("adopt_failed %v: pinned IPv6 entries were removed instead of adopted", f)
	}
	r := <-done
	if r.err != nil || len(r.iv) == 0 {
		t.Fatalf("iperf3 -6: %v\n%s", r.err, r.out)
	}
	for i, v := range r.iv {
		if v <= 0 {
			t.Fatalf("interval %d carried nothing (%v): IPv6 forwarding stopped while xgw was down or restarting", i, r.iv)
		}
	}
	t.Logf("iperf3 -6 0.5 s intervals across the kill and restart (Mbit/s): %.0f", r.iv)
	g.waitWithdrawn(t, "40778")
	ct, _ := g.xgw("dump-conntrack")
	if n := strings.Count(ct, "sport=40778,dport=5201"); n != 2 {
		t.Fatalf("conntrack has %d entries for the IPv6 connection, want one per zone:\n%s", n, ct)
	}
	var entries, offloaded int
	waitFor(t, 3*time.Second, func() bool {
		entries = pinnedEntries(t, g.pinDir, "xgw_flows") + pinnedEntries(t, g.pinDir, "xgw_flows6")
		offloaded = g.fp().offloaded
		return entries == 2*offloaded
	}, "the pinned flow maps to hold two entries per offloaded connection")
}

// iperfIntervals is each interval's Mbit/s of iperf3 -J output (nil if
// it does not parse).
func iperfIntervals(out string) []float64 {
	var r struct {
		Intervals []struct {
			Sum struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum"`
		} `json:"intervals"`
	}
	if json.Unmarshal([]byte(out), &r) != nil {
		return nil
	}
	var iv []float64
	for _, i := range r.Intervals {
		iv = append(iv, i.Sum.BitsPerSecond/1e6)
	}
	return iv
}

// pinnedEntries counts the entries of the pinned map name in pinDir.
func pinnedEntries(t *testing.T, pinDir, name string) int {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, name), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	key, next := make([]byte, m.KeySize()), make([]byte, m.KeySize())
	var prev any // nil: the first key
	for n := 0; ; n++ {
		if err := m.NextKey(prev, next); errors.Is(err, ebpf.ErrKeyNotExist) {
			return n
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		copy(key, next)
		prev = key
	}
}
