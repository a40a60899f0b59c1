package e2e

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/packet"
)

// counters of the offload path, read from xgw stats --json.
type fpCounters struct {
	hits      uint64 // fast-path hits, both directions
	hitsEgr   uint64 // fast-path hits from the underlay
	geneve    uint64 // Geneve that xdp_gw steered to AF_XDP (software path)
	swTX      uint64 // frames the software pipeline transmitted
	offloaded int    // connections in the fast path now
	adopted   uint64
	full      uint64
	kept      int
	oneway    uint64
}

func (g *gateway) fp() fpCounters {
	g.t.Helper()
	out, err := g.xgw("stats", "--json")
	if err != nil {
		g.t.Fatal(err)
	}
	var s struct {
		Pipeline struct {
			TX map[string]uint64 `json:"tx"`
		} `json:"pipeline"`
		XDP []struct {
			Stats struct {
				FastPath struct {
					HitEgress, HitIngress   struct{ Packets uint64 }
					HitEgress6, HitIngress6 struct{ Packets uint64 }
				}
				RedirectGeneve struct{ Packets uint64 }
			} `json:"stats"`
		} `json:"xdp"`
		Offload *struct {
			Offloaded      int    `json:"offloaded"`
			KeptInSoftware int    `json:"kept_in_software"`
			Full           uint64 `json:"full"`
			Adopted        uint64 `json:"adopted"`
			Promoted       struct {
				UDPOneway uint64 `json:"udp_oneway"`
			} `json:"promoted"`
		} `json:"offload"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		g.t.Fatalf("stats json: %v", err)
	}
	var c fpCounters
	if len(s.XDP) > 0 { // one fast path, shared by every interface
		// Hits of both families: the IPv6 suite counts on them too.
		f := &s.XDP[0].Stats.FastPath
		c.hits = f.HitEgress.Packets + f.HitIngress.Packets + f.HitEgress6.Packets + f.HitIngress6.Packets
		c.hitsEgr = f.HitEgress.Packets + f.HitEgress6.Packets
	}
	for _, x := range s.XDP {
		c.geneve += x.Stats.RedirectGeneve.Packets
	}
	c.swTX = s.Pipeline.TX["underlay"] + s.Pipeline.TX["external"]
	if o := s.Offload; o != nil {
		c.offloaded, c.adopted, c.full, c.kept, c.oneway = o.Offloaded, o.Adopted, o.Full, o.KeptInSoftware, o.Promoted.UDPOneway
	}
	return c
}

// cpuSeconds is a process's user+system CPU time.
func cpuSeconds(t *testing.T, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// iperfTCP runs iperf3 from the VM and returns Mbit/s and each interval's.
func (g *gateway) iperfTCP(t *testing.T, args ...string) (float64, []float64) {
	t.Helper()
	full := append([]string{"iperf3", "-c", g.addrs.ExtIP.String(), "-J"}, args...)
	out, err := g.run("vm", full...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", full, err, out)
	}
	var r struct {
		Error     string `json:"error"`
		Intervals []struct {
			Sum struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum"`
		} `json:"intervals"`
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("iperf3 json: %v\n%s", err, out)
	}
	if r.Error != "" || len(r.Intervals) == 0 {
		t.Fatalf("%v: no intervals (error %q)\n%s\n%s", full, r.Error, out, g.explain())
	}
	var iv []float64
	for _, i := range r.Intervals {
		iv = append(iv, i.Sum.BitsPerSecond/1e6)
	}
	return r.End.SumReceived.BitsPerSecond / 1e6, iv
}

// TestOffload checks the fast path end to end in the lab: TCP carried by
// XDP, teardown by FIN, the seed's one-way UDP flows offloaded by policy
// (and kept in software with the policy off), expiry, and full maps.
func TestOffload(t *testing.T) {
	g := startGatewayWith(t, gwOptions{mutate: func(y string) string {
		// Short UDP timeouts for the expiry check.
		return replaceOnce(t, y, "capacity: 65536", "capacity: 65536\n  timeouts:\n    udp_first: 4s\n    udp_single: 4s\n    udp_multiple: 4s")
	}})
	srv, err := g.lab.StartIperfServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	g.run("vm", "ping", "-c", "2", "-W", "1", g.addrs.ExtIP.String()) // resolve next hops

	t.Run("tcp-through-xdp", func(t *testing.T) {
		before := g.fp()
		mbps, _ := g.iperfTCP(t, "-t", "5")
		after := g.fp()
		hits, sw := after.hits-before.hits, after.swTX-before.swTX
		if hits+sw < 1000 {
			t.Fatalf("the gateway forwarded only %d packets of a 5 s iperf3 run", hits+sw)
		}
		share := float64(hits) / float64(hits+sw)
		t.Logf("iperf3 TCP %.0f Mbit/s: %d packets by XDP, %d by the software pipeline: %.2f%% fast path", mbps, hits, sw, 100*share)
		if share < 0.99 {
			t.Fatalf("fast-path share %.4f, want >= 0.99", share)
		}
	})

	t.Run("fin-withdraws-and-reopens", func(t *testing.T) {
		// The client's end of the first connection may sit in TIME_WAIT
		// (iperf3 usually closes first), and Linux then refuses to connect
		// the same 4-tuple again (EADDRINUSE) unless tcp_tw_reuse allows
		// it, which it does only after tcp_tw_reuse_delay (1 s).
		if out, err := g.run("vm", "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"); err != nil {
			t.Fatalf("sysctl tcp_tw_reuse in ns vm: %v\n%s", err, out)
		}
		for i := 0; i < 2; i++ { // the same 5-tuple twice: a new SYN after close
			if i > 0 {
				time.Sleep(1100 * time.Millisecond)
			}
			// Watch for the connection in the fast path while it runs, so
			// that the withdrawal below is of something that was there.
			stop, offloaded := make(chan struct{}), make(chan bool, 1)
			go func() {
				for {
					if out, _ := g.xgw("dump-flows", "--type", "offloaded"); strings.Contains(out, "src=40123") {
						offloaded <- true
						return
					}
					select {
					case <-stop:
						offloaded <- false
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}()
			_, iv := g.iperfTCP(t, "-t", "1", "--cport", "40123")
			close(stop)
			if len(iv) == 0 || iv[0] <= 0 {
				t.Fatalf("run %d on a reused 5-tuple carried nothing: %v", i, iv)
			}
			if !<-offloaded {
				t.Fatalf("run %d: the connection from port 40123 never showed in the offloaded flows", i)
			}
			g.waitWithdrawn(t, "40123")
		}
		ct, _ := g.xgw("dump-conntrack", "-s")
		for _, l := range strings.Split(ct, "\n") {
			if strings.Contains(l, "sport=40123") && strings.Contains(l, "state=ESTABLISHED") {
				t.Fatalf("conntrack still has the closed connection established: %s", l)
			}
		}
	})

	t.Run("seed-one-way-udp", func(t *testing.T) {
		// Policy on (this gateway's config) against the OVS-like baseline
		// (udp_oneway: false) is compared in TestOffloadOnewayOff.
		on := onewayRun(t, g, 9200)
		if on.fastShareAfterN < 0.99 {
			t.Fatalf("one-way UDP after the first %d packets of each flow: %.4f by the fast path, want >= 0.99", onewayN, on.fastShareAfterN)
		}
	})

	t.Run("idle-expire-busy-stay", func(t *testing.T) {
		echo, err := g.lab.StartUDPEcho(7100)
		if err != nil {
			t.Fatal(err)
		}
		defer echo.Stop()
		var busy, idle *net.UDPConn
		g.lab.Do("vm", func() (err error) {
			dst := &net.UDPAddr{IP: g.addrs.ExtIP.AsSlice(), Port: 7100}
			if busy, err = net.DialUDP("udp4", &net.UDPAddr{Port: 41001}, dst); err != nil {
				return err
			}
			idle, err = net.DialUDP("udp4", &net.UDPAddr{Port: 41002}, dst)
			return err
		})
		defer busy.Close()
		defer idle.Close()
		for i := 0; i < 10; i++ { // answered: offloaded after a few packets
			busy.Write([]byte("b"))
			idle.Write([]byte("i"))
			time.Sleep(20 * time.Millisecond)
		}
		waitFor(t, 3*time.Second, func() bool {
			out, _ := g.xgw("dump-flows", "--type", "offloaded")
			return strings.Contains(out, "src=41001") && strings.Contains(out, "src=41002")
		}, "both answered UDP flows to be offloaded")
		// Keep one busy for two timeouts (4 s); the other stays silent.
		deadline := time.Now().Add(9 * time.Second)
		for time.Now().Before(deadline) {
			busy.Write([]byte("b"))
			time.Sleep(200 * time.Millisecond)
		}
		out, _ := g.xgw("dump-flows", "--type", "offloaded")
		ct, _ := g.xgw("dump-conntrack")
		if !strings.Contains(out, "src=41001") || !strings.Contains(ct, "sport=41001") {
			t.Fatalf("the busy offloaded flow expired:\n%s\n%s", out, ct)
		}
		if strings.Contains(out, "src=41002") || strings.Contains(ct, "sport=41002") {
			t.Fatalf("the idle offloaded flow outlived its 4 s timeout:\n%s\n%s", out, ct)
		}
	})
}

// TestOffloadOnewayOff is the seed's failure reproduced on purpose: with
// udp_oneway: false, one-way UDP stays in software as it does in OVS.
// Together with TestOffload's seed-one-way-udp it gives the two figures
// (fast-path share and xgw CPU) the issue asks for.
func TestOffloadOnewayOff(t *testing.T) {
	g := startGatewayWith(t, gwOptions{mutate: func(y string) string {
		return replaceOnce(t, y, "pin_path: none", "pin_path: none\n  udp_oneway: false")
	}})
	g.run("vm", "ping", "-c", "2", "-W", "1", g.addrs.ExtIP.String())
	off := onewayRun(t, g, 9300)
	if off.fastShareAfterN > 0.01 {
		t.Fatalf("with udp_oneway off, %.4f of one-way UDP took the fast path", off.fastShareAfterN)
	}
}

// TestOffloadFullMap: a fast path with room for two connections (four
// entries) keeps the rest in software, and everything is still forwarded.
func TestOffloadFullMap(t *testing.T) {
	g := startGatewayWith(t, gwOptions{mutate: func(y string) string {
		return replaceOnce(t, y, "pin_path: none", "pin_path: none\n  flows: 4")
	}})
	echo, err := g.lab.StartUDPEcho(7200)
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Stop()
	g.run("vm", "ping", "-c", "2", "-W", "1", g.addrs.ExtIP.String())
	var conns []*net.UDPConn
	for i := 0; i < 5; i++ {
		g.lab.Do("vm", func() error {
			c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: g.addrs.ExtIP.AsSlice(), Port: 7200})
			conns = append(conns, c)
			return err
		})
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 64)
	answered := 0
	for round := 0; round < 40; round++ {
		for _, c := range conns {
			c.Write([]byte("x"))
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(buf); err == nil {
				answered++
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	c := g.fp()
	t.Logf("5 answered flows, fast path for 2: offloaded %d, kept in software %d, full refusals %d, answered %d of %d", c.offloaded, c.kept, c.full, answered, 40*5)
	if c.offloaded > 2 || c.full == 0 {
		t.Fatalf("offloaded %d connections into a 4-entry map (full refusals %d)", c.offloaded, c.full)
	}
	if answered < 40*5*95/100 {
		t.Fatalf("only %d of %d requests answered with the fast path full", answered, 40*5)
	}
}

// TestOffloadRestart kills xgw with SIGKILL during an iperf3 run: pinned,
// the fast path keeps the established connection forwarding; the next xgw
// takes the pinned program and maps over and adopts the connection.
func TestOffloadRestart(t *testing.T) {
	g := startGatewayWith(t, gwOptions{pin: true})
	srv, err := g.lab.StartIperfServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	g.run("vm", "ping", "-c", "2", "-W", "1", g.addrs.ExtIP.String())
	done := make(chan []float64, 1)
	go func() {
		_, iv := g.iperfTCP(t, "-t", "8", "-i", "0.5", "--cport", "40777")
		done <- iv
	}()
	waitFor(t, 4*time.Second, func() bool { return g.fp().offloaded >= 2 }, "the iperf3 connections to be offloaded")
	time.Sleep(time.Second)
	g.kill9()
	t.Log("xgw killed with SIGKILL")
	time.Sleep(2 * time.Second) // forwarding by the pinned fast path alone
	g.start()
	c := g.fp()
	t.Logf("restarted xgw adopted %d connections", c.adopted)
	if c.adopted == 0 {
		t.Fatal("the restarted xgw adopted nothing from the pinned fast path")
	}
	iv := <-done
	for i, v := range iv {
		if v <= 0 {
			t.Fatalf("interval %d carried nothing (%v): forwarding stopped while xgw was down or restarting", i, iv)
		}
	}
	t.Logf("iperf3 0.5 s intervals across the kill and restart (Mbit/s): %.0f", iv)
	// Nothing duplicated or leaked: once iperf3 is done its entries go,
	// and conntrack holds the connection once per zone.
	g.waitWithdrawn(t, "40777")
	ct, _ := g.xgw("dump-conntrack")
	if n := strings.Count(ct, "sport=40777,dport=5201"); n != 2 {
		t.Fatalf("conntrack has %d entries for the connection, want one per zone:\n%s", n, ct)
	}
	// The pinned map itself, not the manager's view of it: two entries
	// (one per direction) for each connection xgw says it has offloaded,
	// none left over from the killed process.
	var entries, offloaded int
	waitFor(t, 3*time.Second, func() bool {
		entries, offloaded = pinnedFlows(t, g.pinDir), g.fp().offloaded
		return entries == 2*offloaded
	}, "the pinned flow map to hold two entries per offloaded connection")
	t.Logf("pinned xgw_flows: %d entries for %d offloaded connections", entries, offloaded)

	// A clean stop leaves the pinned program attached (that is the
	// point); xgw cleanup is the full stop.
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	attached := func() bool {
		out, _ := g.run("gw", "ip", "-d", "link", "show", g.addrs.GWUnderlay)
		return strings.Contains(out, "prog/xdp")
	}
	if !attached() {
		t.Fatal("pinned XDP program detached on a clean stop")
	}
	if out, err := g.run("gw", xgwBin, "cleanup", "--config", g.config); err != nil {
		t.Fatalf("xgw cleanup: %v\n%s", err, out)
	}
	if attached() {
		t.Fatal("xgw cleanup left the XDP program attached")
	}
}

// pinnedFlows counts the entries of the fast path's pinned flow map.
func pinnedFlows(t *testing.T, pinDir string) int {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, "xgw_flows"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	key, next := make([]byte, m.KeySize()), make([]byte, m.KeySize())
	var prev any // nil: the first key
	n := 0
	for {
		if err := m.NextKey(prev, next); errors.Is(err, ebpf.ErrKeyNotExist) {
			return n
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		copy(key, next)
		prev = key
	}
}

const onewayN = 32 // the manager's default promotion threshold

type onewayResult struct {
	sent, delivered int
	fastShareAfterN float64
	xgwCPU, seconds float64
	hits, swTX      uint64
}

// onewayRun is the seed scenario: 5000 one-way UDP flows of small
// datagrams from the VM, through OVS and xgw, to a sink in ext, each flow
// sending 2N packets, round robin, paced for OVS. When OVS's userspace
// datapath (which shares both cores with whatever else runs) loses so
// much that no flow got past its first N packets to xgw, there is nothing
// to judge the policy by: the run is repeated at half the rate, at most
// twice, and the losses are logged.
func onewayRun(t *testing.T, g *gateway, port int) onewayResult {
	for pps := 40000.0; ; pps /= 2 {
		r, ok := onewayAt(t, g, port, pps)
		if ok {
			return r
		}
		if pps <= 10000 {
			t.Fatalf("xgw forwarded %d datagrams of %d sent at %.0f pps, no more than the first %d of each flow: nothing to judge the policy by",
				r.hits+r.swTX, r.sent, pps, onewayN)
		}
		t.Logf("at %.0f pps xgw forwarded only %d of %d datagrams (OVS lost the rest before the gateway): again at half the rate", pps, r.hits+r.swTX, r.sent)
		port++ // a fresh set of flows
	}
}

// onewayAt runs the seed scenario once at pps; ok is false when no flow
// reached xgw past its first N packets.
func onewayAt(t *testing.T, g *gateway, port int, pps float64) (onewayResult, bool) {
	const flows, perFlow = 5000, 2 * onewayN
	var rx *net.UDPConn
	if err := g.lab.Do("ext", func() (err error) {
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: g.addrs.ExtIP.AsSlice(), Port: port})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	rx.SetReadBuffer(8 << 20)
	delivered := make(chan int, 1)
	go func() {
		n := 0
		buf := make([]byte, 2048)
		for {
			rx.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := rx.Read(buf); err != nil {
				delivered <- n
				return
			}
			n++
		}
	}()
	var fd int
	if err := g.lab.Do("vm", func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	src, _ := packet.IP4From(g.addrs.VMs[0].IP)
	dst, _ := packet.IP4From(g.addrs.ExtIP)
	sa := &unix.SockaddrInet4{Addr: dst}
	before, cpu0 := g.fp(), cpuSeconds(t, g.pid())
	start := time.Now()
	frame := make([]byte, 20+8+18)
	sent := 0
	for round := 0; round < perFlow; round++ {
		for f := 0; f < flows; f++ {
			udpDatagram(frame, src, dst, uint16(20000+f), uint16(port))
			if unix.Sendto(fd, frame, 0, sa) == nil {
				sent++
			}
			if sent%64 == 0 {
				if ahead := time.Duration(float64(sent)/pps*float64(time.Second)) - time.Since(start); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
	}
	secs := time.Since(start).Seconds()
	got := <-delivered
	after, cpu1 := g.fp(), cpuSeconds(t, g.pid())
	r := onewayResult{sent: sent, delivered: got, xgwCPU: cpu1 - cpu0, seconds: secs,
		hits: after.hits - before.hits, swTX: after.swTX - before.swTX}
	// Of the packets that reached xgw after each flow's first N, at most
	// the software's count beyond flows*N went through software (a flow's
	// first packets are always software's): the share that took the fast
	// path is at least 1 - that over their number.
	afterN := float64(r.hits+r.swTX) - float64(flows*onewayN)
	if afterN <= 0 {
		return r, false
	}
	r.fastShareAfterN = 1 - max(0, float64(r.swTX)-float64(flows*onewayN))/afterN
	reached := (after.hitsEgr - before.hitsEgr) + (after.geneve - before.geneve)
	t.Logf("seed scenario: %d one-way UDP flows x %d datagrams: sent %d in %.1fs, delivered %d (%.2f%% loss: %d before the gateway (OVS), %d in it); XDP fast path %d, software %d (%.1f%% of all by XDP); of the packets after the first %d of each flow, >= %.2f%% by XDP; xgw CPU %.2fs (%.0f%% of a core); one-way promotions %d",
		flows, perFlow, sent, secs, got, 100*(1-float64(got)/float64(sent)), sent-int(reached), int(reached)-got,
		r.hits, r.swTX, 100*float64(r.hits)/float64(r.hits+r.swTX), onewayN, 100*r.fastShareAfterN, r.xgwCPU, 100*r.xgwCPU/secs, after.oneway-before.oneway)
	return r, true
}

// udpDatagram writes an IPv4/UDP datagram with an 18-byte payload.
func udpDatagram(b []byte, src, dst packet.IP4, sport, dport uint16) {
	ip := packet.IPv4(b)
	ip.Encode(packet.IPv4Fields{TotalLen: uint16(len(b)), TTL: 64, Protocol: packet.ProtoUDP, Src: src, Dst: dst, DF: true})
	u := packet.UDP(b[20:])
	u.SetSrcPort(sport)
	u.SetDstPort(dport)
	u.SetLength(uint16(len(b) - 20))
	binary.BigEndian.PutUint64(b[28:], uint64(sport))
	u.SetChecksum(u.ComputeChecksum(src, dst))
}

// explain is what explains a failure on the gateway: its offloaded
// flows, conntrack, counters and the TCP sockets at both ends.
func (g *gateway) explain() string {
	fl, _ := g.xgw("dump-flows", "--type", "offloaded")
	ct, _ := g.xgw("dump-conntrack", "-s")
	st, _ := g.xgw("stats")
	vm, _ := g.run("vm", "ss", "-tan")
	ext, _ := g.run("ext", "ss", "-tan")
	return fmt.Sprintf("%s\n%s\n%s\nvm sockets:\n%s\next sockets:\n%s", fl, ct, st, vm, ext)
}

// waitWithdrawn waits until no offloaded flow mentions port, with what
// explains a failure: the flows, conntrack and the counters.
func (g *gateway) waitWithdrawn(t *testing.T, port string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := g.xgw("dump-flows", "--type", "offloaded")
		if !strings.Contains(out, port) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the closed connection's fast-path entries (port %s) were not withdrawn:\n%s", port, g.explain())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
