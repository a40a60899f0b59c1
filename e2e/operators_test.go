package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestOperators checks the operator-facing side of a running gateway in
// the lab: Prometheus metrics under load agree with `xgw stats`; SIGHUP
// with a new SNAT address keeps a running TCP connection going while new
// connections get the new address; SIGHUP with a broken file changes
// nothing and logs the field at fault.
func TestOperators(t *testing.T) {
	g := startGateway(t)
	a := g.addrs
	ext := a.ExtIP.String()
	// Resolve the next hop first: the first packets may be spent on it.
	g.run("vm", "ping", "-c", "2", "-W", "1", ext)

	t.Run("metrics-under-load", func(t *testing.T) {
		sink, err := g.lab.StartUDPSink(9011)
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Stop()
		// Steady load, ~20k datagrams/s, from a new source port every 10 ms:
		// new flows keep the software pipeline busy even once established
		// ones are offloaded to the XDP fast path.
		dial := func(port int) (c *net.UDPConn) {
			if err := g.lab.Do("vm", func() (err error) {
				c, err = net.DialUDP("udp4", &net.UDPAddr{IP: a.VMs[0].IP.AsSlice(), Port: port}, &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: 9011})
				return
			}); err != nil {
				t.Error(err)
			}
			return c
		}
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			msg := make([]byte, 200)
			for port := 41000; !stop.Load(); port++ {
				c := dial(port)
				if c == nil {
					return
				}
				for range 10 {
					for range 20 {
						c.Write(msg)
					}
					time.Sleep(time.Millisecond)
				}
				c.Close()
			}
		}()
		defer func() { stop.Store(true); <-done }()
		time.Sleep(500 * time.Millisecond)

		m1 := g.scrape(t)
		time.Sleep(1200 * time.Millisecond)
		st := g.stats()
		time.Sleep(200 * time.Millisecond)
		m2 := g.scrape(t)

		// Each series: it grew under load, and the stats document read
		// between the two scrapes lies between them.
		for _, s := range []struct {
			series string
			path   []string
		}{
			{`xgw_pipeline_packets_total{verdict="tx"}`, []string{"pipeline", "verdicts", "tx"}},
			{`xgw_pipeline_bytes_total{verdict="tx"}`, []string{"pipeline", "bytes", "tx"}},
			{`xgw_pipeline_rx_packets_total{side="underlay"}`, []string{"pipeline", "rx", "underlay"}},
			{`xgw_pipeline_forwarded_packets_total{direction="egress",family="ipv4"}`, []string{"pipeline", "forwarded", "ipv4", "egress", "packets"}},
			{`xgw_engine_frames_total`, []string{"engine", "Frames"}},
		} {
			v1, v2 := m1.get(t, s.series), m2.get(t, s.series)
			sv, ok := lookup(st, s.path...)
			if !ok {
				t.Errorf("stats has no %v", s.path)
				continue
			}
			t.Logf("%s: scrape %.0f, stats %.0f, scrape %.0f", s.series, v1, sv, v2)
			if v2 <= v1 {
				t.Errorf("%s did not increase under load: %.0f -> %.0f", s.series, v1, v2)
			}
			if sv < v1 || sv > v2 {
				t.Errorf("%s: stats says %.0f, outside the scrapes before (%.0f) and after (%.0f)", s.series, sv, v1, v2)
			}
		}
		// The fast path's hits, shared by both interfaces' programs: the
		// first interface's counters are the series. Flows here are short,
		// so they need not grow; they must agree.
		xs, _ := lookupAny(st, "xdp")
		if l, _ := xs.([]any); len(l) == 0 {
			t.Errorf("stats has no xdp entries: %v", xs)
		} else {
			first, _ := l[0].(map[string]any)
			sv, ok := lookup(first, "stats", "FastPath", "HitEgress", "Packets")
			const series = `xgw_fastpath_packets_total{direction="egress",family="ipv4"}`
			v1, v2 := m1.get(t, series), m2.get(t, series)
			t.Logf("%s: scrape %.0f, stats %.0f, scrape %.0f", series, v1, sv, v2)
			if !ok || sv < v1 || sv > v2 {
				t.Errorf("%s: stats says %.0f (found %v), outside the scrapes before (%.0f) and after (%.0f)", series, sv, ok, v1, v2)
			}
		}
		// Series that have no counterpart to bracket, but must be there.
		if v := m2.sum("xgw_afxdp_rx_packets_total"); v <= 0 {
			t.Errorf("AF_XDP rx packets %v", v)
		}
		if v := m2.sum("xgw_xdp_packets_total", `action="redirect_geneve"`); v <= 0 {
			t.Errorf("XDP redirect_geneve %v", v)
		}
		if v := m2.sum("xgw_worker_busy_ratio"); v <= 0 {
			t.Errorf("no worker busy under load: busy ratio sum %v", v)
		}
		// Zone counts are refreshed at most every 10 s; the first scrape
		// already saw the load's connection.
		if v := m2.get(t, `xgw_conntrack_zone_entries{zone="16"}`); v < 1 {
			t.Errorf("zone 16 entries %v", v)
		}
		for _, name := range []string{"xgw_fastpath_punts_total", "xgw_fastpath_misses_total", "xgw_pipeline_drops_total", "xgw_neighbor_misses_total", "xgw_nat_port_allocation_failures_total", "xgw_afxdp_kernel_drops_total"} {
			if !m2.has(name) {
				t.Errorf("no %s series", name)
			}
		}
	})

	// The file as the lab wrote it, and the same with a second SNAT address.
	orig, err := os.ReadFile(g.config)
	if err != nil {
		t.Fatal(err)
	}
	const oldNAT, newNAT = "external_ip: 203.0.113.10", "external_ip: 203.0.113.11"
	if !strings.Contains(string(orig), oldNAT) {
		t.Fatalf("the lab config has no %q:\n%s", oldNAT, orig)
	}

	t.Run("reload-snat-address", func(t *testing.T) {
		// The "internet" routes the new address back to the gateway.
		if out, err := g.run("ext", "ip", "route", "add", "203.0.113.11/32", "via", a.GWExternalIP.Addr().String()); err != nil {
			t.Fatalf("route to the new SNAT address: %v\n%s", err, out)
		}
		srv, err := g.lab.StartIperfServer()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		acc := g.acceptor(t, 7013)

		// A long connection, running across the reload.
		iperf := g.lab.Exec("vm", "iperf3", "-c", ext, "-t", "6", "-i", "0.5", "-J", "--get-server-output")
		var out strings.Builder
		iperf.Stdout = &out
		if err := iperf.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		if got := acc.dial(t, g); got != "203.0.113.10" {
			t.Fatalf("before the reload a new connection came from %q, want 203.0.113.10", got)
		}
		g.rewriteConfig(t, strings.Replace(string(orig), oldNAT, newNAT, 1))
		hupAt := time.Now()
		g.hup(t)
		g.waitReloads(t, 1, 0)
		reloadedAt := time.Now()
		t.Logf("SIGHUP to reload applied (seen in xgw stats): %v", reloadedAt.Sub(hupAt).Round(time.Millisecond))

		// A new connection now leaves from the new address...
		if got := acc.dial(t, g); got != "203.0.113.11" {
			t.Fatalf("after the reload a new connection came from %q, want 203.0.113.11", got)
		}
		// ...while the old address drains for the running connection.
		cfgState, _ := lookupAny(g.stats(), "config", "draining_nat_addresses")
		if fmt.Sprint(cfgState) != "[203.0.113.10]" {
			t.Errorf("draining addresses %v, want [203.0.113.10]", cfgState)
		}

		if err := iperf.Wait(); err != nil {
			t.Fatalf("iperf3 across the reload: %v\n%s", err, out.String())
		}
		var res struct {
			Intervals []struct {
				Sum struct {
					Start         float64 `json:"start"`
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum"`
			} `json:"intervals"`
			End struct {
				SumReceived struct {
					Bytes float64 `json:"bytes"`
				} `json:"sum_received"`
			} `json:"end"`
			ServerText string `json:"server_output_text"`
		}
		if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
			t.Fatalf("iperf3 json: %v\n%s", err, out.String())
		}
		if peer := acceptedFrom(res.ServerText); peer != "203.0.113.10" {
			t.Errorf("the running connection came from %q, want the old address 203.0.113.10", peer)
		}
		if len(res.Intervals) < 10 {
			t.Fatalf("iperf3 reported %d intervals, want 12", len(res.Intervals))
		}
		// No stall: every half second, before and after the reload, moved data.
		for _, iv := range res.Intervals {
			if iv.Sum.BitsPerSecond < 1e6 {
				t.Errorf("iperf3 stalled in the interval from %.1fs: %.0f bit/s", iv.Sum.Start, iv.Sum.BitsPerSecond)
			}
		}
		t.Logf("iperf3 across the reload: %.1f MB, %d intervals, reload %.1fs before its end", res.End.SumReceived.Bytes/1e6, len(res.Intervals), time.Since(reloadedAt).Seconds())
		if !strings.Contains(g.logs.String(), "configuration reloaded") || !strings.Contains(g.logs.String(), "203.0.113.11 ports 1024-65535 added") {
			t.Errorf("the log does not summarise the reload:\n%s", g.logs.String())
		}
	})

	t.Run("reload-broken-file", func(t *testing.T) {
		before := g.stats()
		g.rewriteConfig(t, strings.Replace(string(orig), oldNAT, "external_ip: 203.0.113", 1))
		g.hup(t)
		g.waitReloads(t, 1, 1)
		const field = `routers[1].nat[0].external_ip: \"203.0.113\" is not an IPv4 address`
		logs := g.logs.String()
		if !strings.Contains(logs, "reload refused; the running configuration stays") || !strings.Contains(logs, field) {
			t.Fatalf("the log does not say why the file was refused (want %s):\n%s", field, logs)
		}
		// The CLI says the same, and fails.
		out, err := g.xgw("reload")
		if err == nil || !strings.Contains(out, `routers[1].nat[0].external_ip: "203.0.113" is not an IPv4 address`) {
			t.Fatalf("xgw reload of a broken file: %v\n%s", err, out)
		}
		// Nothing changed: new connections still get the address of the
		// last good file, and forwarding never stopped.
		acc := g.acceptor(t, 7014)
		if got := acc.dial(t, g); got != "203.0.113.11" {
			t.Fatalf("after a refused reload a new connection came from %q, want 203.0.113.11", got)
		}
		b, _ := lookup(before, "pipeline", "verdicts", "tx")
		after, _ := lookup(g.stats(), "pipeline", "verdicts", "tx")
		if after <= b {
			t.Fatalf("tx %v -> %v: forwarding stopped", b, after)
		}
	})

	t.Run("reload-offload-policy", func(t *testing.T) {
		srv, err := g.lab.StartIperfServer()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		on := strings.Replace(string(orig), oldNAT, newNAT, 1) // the running file
		i := strings.Index(on, "offload:")
		j := strings.Index(on[i:], "enabled: true")
		if i < 0 || j < 0 {
			t.Fatalf("the lab config has no offload.enabled:\n%s", on)
		}
		off := on[:i+j] + "enabled: false" + on[i+j+len("enabled: true"):]
		offloaded := func() float64 { v, _ := lookup(g.stats(), "offload", "offloaded"); return v }

		iperf := g.lab.Exec("vm", "iperf3", "-c", ext, "-t", "6", "-i", "0.5", "-J")
		var out strings.Builder
		iperf.Stdout = &out
		if err := iperf.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 3*time.Second, func() bool { return offloaded() >= 1 }, "the iperf3 connection to be offloaded")

		// Off: every offloaded flow goes back to software, and stays.
		g.rewriteConfig(t, off)
		g.hup(t)
		g.waitReloads(t, 2, 2) // the broken file was refused twice: SIGHUP and xgw reload
		waitFor(t, 2*time.Second, func() bool { return offloaded() == 0 }, "offloaded flows to be withdrawn")
		if w, _ := lookup(g.stats(), "offload", "withdrawn", "config"); w < 1 {
			t.Fatalf("withdrawn for config: %v", w)
		}
		time.Sleep(time.Second)
		if n := offloaded(); n != 0 {
			t.Fatalf("%v flows offloaded with offload disabled", n)
		}
		// On again: the running connection is promoted again.
		g.rewriteConfig(t, on)
		g.hup(t)
		g.waitReloads(t, 3, 2)
		waitFor(t, 3*time.Second, func() bool { return offloaded() >= 1 }, "the connection to be offloaded again")

		if err := iperf.Wait(); err != nil {
			t.Fatalf("iperf3 across the policy reloads: %v\n%s", err, out.String())
		}
		var res struct {
			Intervals []struct {
				Sum struct {
					Start         float64 `json:"start"`
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum"`
			} `json:"intervals"`
		}
		if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
			t.Fatalf("iperf3 json: %v\n%s", err, out.String())
		}
		for _, iv := range res.Intervals {
			if iv.Sum.BitsPerSecond < 1e6 {
				t.Errorf("iperf3 stalled in the interval from %.1fs: %.0f bit/s", iv.Sum.Start, iv.Sum.BitsPerSecond)
			}
		}
		if logs := g.logs.String(); !strings.Contains(logs, "offload policy: enabled true -> false") || !strings.Contains(logs, "offload policy: enabled false -> true") {
			t.Errorf("the log does not summarise the policy reloads:\n%s", logs)
		}
	})
}

// metricSet is one scrape: series text ("name{labels}") to value.
type metricSet map[string]float64

// scrape fetches /metrics from inside ns gw, where xgw listens on the
// default loopback address.
func (g *gateway) scrape(t *testing.T) metricSet {
	t.Helper()
	out, err := g.run("gw", "curl", "-sf", "--max-time", "5", "http://127.0.0.1:9477/metrics")
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, out)
	}
	m := metricSet{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("bad exposition line %q", line)
		}
		m[line[:i]] = v
	}
	return m
}

func (m metricSet) get(t *testing.T, series string) float64 {
	t.Helper()
	v, ok := m[series]
	if !ok {
		t.Fatalf("no series %s", series)
	}
	return v
}

// sum adds every series of a family whose labels contain all of want.
func (m metricSet) sum(name string, want ...string) float64 {
	var s float64
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(k, w)
		}
		if ok {
			s += v
		}
	}
	return s
}

func (m metricSet) has(name string) bool {
	for k := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			return true
		}
	}
	return false
}

// lookup walks a decoded JSON document to a number.
func lookup(doc map[string]any, path ...string) (float64, bool) {
	v, ok := lookupAny(doc, path...)
	f, isNum := v.(float64)
	return f, ok && isNum
}

func lookupAny(doc map[string]any, path ...string) (any, bool) {
	var v any = doc
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// rewriteConfig replaces the running gateway's file (atomically, as an
// editor or a config manager would).
func (g *gateway) rewriteConfig(t *testing.T, content string) {
	t.Helper()
	tmp := g.config + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, g.config); err != nil {
		t.Fatal(err)
	}
}

func (g *gateway) hup(t *testing.T) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// waitReloads waits until the gateway has applied and refused that many
// reloads.
func (g *gateway) waitReloads(t *testing.T, applied, refused float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := g.stats()
		a, _ := lookup(st, "config", "reloads")
		r, _ := lookup(st, "config", "reload_failures")
		if a == applied && r == refused {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reloads applied %v refused %v, want %v and %v\n%s", a, r, applied, refused, g.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// acceptor is a TCP server in ns ext that reports each client's address.
type acceptor struct {
	port  int
	peers chan string
}

func (g *gateway) acceptor(t *testing.T, port int) *acceptor {
	t.Helper()
	var ln net.Listener
	if err := g.lab.Do("ext", func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(g.addrs.ExtIP.String(), strconv.Itoa(port)))
		return
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	a := &acceptor{port: port, peers: make(chan string, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.peers <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Close()
		}
	}()
	return a
}

// dial opens a new connection from the VM and returns the address the
// server saw it come from.
func (a *acceptor) dial(t *testing.T, g *gateway) string {
	t.Helper()
	var c net.Conn
	if err := g.lab.Do("vm", func() (err error) {
		d := net.Dialer{Timeout: 3 * time.Second}
		c, err = d.Dial("tcp4", net.JoinHostPort(g.addrs.ExtIP.String(), strconv.Itoa(a.port)))
		return
	}); err != nil {
		t.Fatalf("connect from the VM: %v", err)
	}
	defer c.Close()
	select {
	case p := <-a.peers:
		return p
	case <-time.After(8 * time.Second): // a lost handshake ACK costs a SYN-ACK retransmit
		t.Fatal("the server saw no connection")
		return ""
	}
}
