package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
)

// drops returns the pipeline's drop counter for reason.
func (g *gateway) drops(reason string) uint64 {
	g.t.Helper()
	p, _ := g.stats()["pipeline"].(map[string]any)
	d, _ := p["drops"].(map[string]any)
	v, ok := d[reason].(float64)
	if !ok {
		g.t.Fatalf("stats has no drop reason %q: %v", reason, d)
	}
	return uint64(v)
}

// TestGateway runs the end-to-end checks against one lab and one
// xgw, in order: each subtest leaves the gateway as it found it.
func TestGateway(t *testing.T) {
	// Offload off: everything here, the integrity run above all, goes
	// through AF_XDP and the Go pipeline (TestOffload covers the fast path).
	g := startGatewayWith(t, gwOptions{mutate: func(y string) string {
		return replaceOnce(t, y, "offload:\n  enabled: true", "offload:\n  enabled: false")
	}})
	a := g.addrs
	ext := a.ExtIP.String()

	t.Run("ping", func(t *testing.T) {
		// The first packets may be spent resolving the next hop.
		g.run("vm", "ping", "-c", "2", "-W", "1", ext)
		out, err := g.run("vm", "ping", "-c", "3", "-i", "0.2", "-W", "2", ext)
		if err != nil || !strings.Contains(out, "3 received") {
			t.Fatalf("ping VM -> ext through OVS and xgw: %v\n%s", err, out)
		}
	})

	t.Run("udp-request-response", func(t *testing.T) {
		srv, err := g.lab.StartUDPEcho(7007)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		var c *net.UDPConn
		if err := g.lab.Do("vm", func() (err error) {
			c, err = net.DialUDP("udp4", &net.UDPAddr{IP: a.VMs[0].IP.AsSlice(), Port: 40007}, &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: 7007})
			return
		}); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 1500)
		got := 0
		for i := 0; i < 20; i++ {
			msg := fmt.Sprintf("request %d", i)
			c.Write([]byte(msg))
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err == nil && string(buf[:n]) == msg {
				got++
			}
		}
		if got < 19 {
			t.Fatalf("%d of 20 UDP requests answered", got)
		}
	})

	t.Run("udp-one-way", func(t *testing.T) {
		sink, err := g.lab.StartUDPSink(9009)
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Stop()
		var c *net.UDPConn
		if err := g.lab.Do("vm", func() (err error) {
			c, err = net.DialUDP("udp4", &net.UDPAddr{IP: a.VMs[0].IP.AsSlice(), Port: 40009}, &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: 9009})
			return
		}); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := 0; i < 100; i++ {
			c.Write([]byte("one way"))
		}
		waitFor(t, 5*time.Second, func() bool { p, _, _ := sink.UDPSinkStats(); return p >= 95 }, "the sink to count the one-way datagrams")
	})

	t.Run("dump-conntrack", func(t *testing.T) {
		out, err := g.xgw("dump-conntrack", "-s")
		if err != nil {
			t.Fatal(err)
		}
		var oneWay, answered int
		for _, line := range strings.Split(out, "\n") {
			switch {
			case strings.Contains(line, "sport=40009,dport=9009"):
				oneWay++
				if strings.Contains(line, "SEEN_REPLY") {
					t.Errorf("one-way flow shown as established: %s", line)
				}
			case strings.Contains(line, "sport=40007,dport=7007"):
				answered++
				if !strings.Contains(line, "SEEN_REPLY") {
					t.Errorf("answered flow not established: %s", line)
				}
			}
		}
		if oneWay != 2 || answered != 2 {
			t.Fatalf("want one entry per zone for each flow, got one-way %d answered %d:\n%s", oneWay, answered, out)
		}
		if !strings.Contains(out, "dst="+a.SNATIP.String()) {
			t.Fatalf("no SNAT reply tuple in the dump:\n%s", out)
		}
	})

	t.Run("iperf3-tcp", func(t *testing.T) {
		srv, err := g.lab.StartIperfServer()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		for _, reverse := range []bool{false, true} {
			res := g.iperf3(t, ext, 3, reverse)
			mbps, peer := res.Mbps, res.Peer
			t.Logf("iperf3 TCP reverse=%v: %.1f Mbit/s, %.1f MB, server saw %s", reverse, mbps, res.MB, peer)
			// ~1 Gbit/s on an idle machine; far less is a broken path.
			if mbps < 20 {
				t.Fatalf("iperf3 TCP reverse=%v: %.3f Mbit/s", reverse, mbps)
			}
			if peer != a.SNATIP.String() {
				t.Fatalf("server saw %q, want the SNAT address %s\n%s", peer, a.SNATIP, res.ServerText)
			}
		}
	})

	t.Run("unsolicited-syn", func(t *testing.T) {
		before := g.drops("no-connection")
		ps, err := g.lab.OpenPacketSocket("vm", lab.VMIface)
		if err != nil {
			t.Fatal(err)
		}
		defer ps.Close()
		var dialErr error
		g.lab.Do("ext", func() error {
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: a.ExtIP.AsSlice()}}
			var c net.Conn
			c, dialErr = d.Dial("tcp4", net.JoinHostPort(a.SNATIP.String(), "22"))
			if c != nil {
				c.Close()
			}
			return nil
		})
		var ne net.Error
		if dialErr == nil || !errors.As(dialErr, &ne) || !ne.Timeout() {
			t.Fatalf("connect to the SNAT address: %v; want a timeout (dropped: no RST, no answer)", dialErr)
		}
		if after := g.drops("no-connection"); after <= before {
			t.Fatalf("no-connection drops %d -> %d: the SYN was not counted", before, after)
		}
		buf := make([]byte, 2048)
		deadline := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(deadline) {
			n, _, err := ps.Read(buf, 100*time.Millisecond)
			if err != nil || n < 34 {
				continue
			}
			// Only what the unsolicited SYN could have become counts: a
			// segment to port 22 or a bare SYN (a late FIN of the previous
			// subtest's iperf3 connection is fine).
			if binary.BigEndian.Uint16(buf[12:]) != 0x0800 || buf[23] != 6 {
				continue
			}
			tcp := buf[14+int(buf[14]&0x0f)*4:]
			if len(tcp) >= 14 && (binary.BigEndian.Uint16(tcp[2:]) == 22 || tcp[13]&0x12 == 0x02) {
				t.Fatalf("the unsolicited SYN reached the VM: % x", buf[:n])
			}
		}
	})

	t.Run("host-still-answers", func(t *testing.T) {
		// The gateway host's own addresses on both sides: ARP and ping go
		// to its kernel, not to xgw.
		if out, err := g.run("ext", "ping", "-c", "2", "-W", "2", a.GWExternalIP.Addr().String()); err != nil {
			t.Fatalf("ping the gateway's external address: %v\n%s", err, out)
		}
		if out, err := g.run("hv", "ping", "-c", "2", "-W", "2", a.VTEPIP.String()); err != nil {
			t.Fatalf("ping the gateway's VTEP address: %v\n%s", err, out)
		}
		out, _ := g.run("ext", "ip", "neigh", "show", a.GWExternalIP.Addr().String())
		if !strings.Contains(out, strings.ToLower(a.GWExternalMAC.String())) {
			t.Fatalf("ext did not learn the gateway's MAC by ARP: %q", out)
		}
	})

	t.Run("integrity", func(t *testing.T) { integrity(t, g) })

	t.Run("shutdown", func(t *testing.T) {
		if err := g.stop(); err != nil {
			t.Fatalf("xgw shutdown: %v\n%s", err, g.logs.String())
		}
		for _, ifname := range []string{a.GWUnderlay, a.GWExternal} {
			out, err := g.run("gw", "ip", "-d", "link", "show", ifname)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out, "prog/xdp") || strings.Contains(out, "xdp") && strings.Contains(out, "prog") {
				t.Fatalf("an XDP program is still attached to %s after shutdown:\n%s", ifname, out)
			}
		}
		if _, err := os.Stat(g.socket); !os.IsNotExist(err) {
			t.Fatalf("control socket %s left behind (%v)", g.socket, err)
		}
	})
}

// integrity sends sequence-numbered, checksummed datagrams from the VM
// through OVS and xgw to ext and checks each one: none corrupted, none
// duplicated, loss counted. XGW_INTEGRITY_N sets the count (default 1M).
func integrity(t *testing.T, g *gateway) {
	n := 1_000_000
	if v := os.Getenv("XGW_INTEGRITY_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	a := g.addrs
	const port = 9100
	var rx, tx *net.UDPConn
	if err := g.lab.Do("ext", func() (err error) {
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: port})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	rx.SetReadBuffer(16 << 20)
	if err := g.lab.Do("vm", func() (err error) {
		tx, err = net.DialUDP("udp4", &net.UDPAddr{IP: a.VMs[0].IP.AsSlice(), Port: 41000}, &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: port})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	tx.SetWriteBuffer(4 << 20)

	before := g.counters()
	fpBefore := g.fp()
	seen := make([]bool, n)
	var got, dup, corrupt int
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		buf := make([]byte, 2048)
		for {
			rx.SetReadDeadline(time.Now().Add(2 * time.Second))
			m, err := rx.Read(buf)
			if err != nil {
				return
			}
			if m != 64 || crc32.ChecksumIEEE(buf[4:m]) != binary.BigEndian.Uint32(buf) {
				corrupt++
				continue
			}
			seq := binary.BigEndian.Uint32(buf[4:])
			if int(seq) >= n {
				corrupt++
				continue
			}
			if seen[seq] {
				dup++
				continue
			}
			seen[seq] = true
			got++
		}
	}()
	// Paced in bursts: the point is integrity, not overload; the figure is
	// the software path's delivered rate at that pace.
	msg := make([]byte, 64)
	start := time.Now()
	const burst = 64
	// The private OVS userspace datapath in ns hv carries ~65 kpps of small
	// datagrams on these machines; offer less so that what is measured is
	// integrity, and attribute any loss per stage below.
	rate := 40_000.0
	if v := os.Getenv("XGW_INTEGRITY_PPS"); v != "" {
		rate, _ = strconv.ParseFloat(v, 64)
	}
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(msg[4:], uint32(i))
		for j := 8; j < len(msg); j++ {
			msg[j] = byte(i*7 + j)
		}
		binary.BigEndian.PutUint32(msg, crc32.ChecksumIEEE(msg[4:]))
		if _, err := tx.Write(msg); err != nil {
			// ENOBUFS under pressure: count as loss, keep going.
			continue
		}
		if i%burst == burst-1 {
			if ahead := time.Duration(float64(i+1)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	sendTime := time.Since(start)
	<-recvDone
	lost := n - got
	after := g.counters()
	if hits := g.fp().hits - fpBefore.hits; hits != 0 {
		t.Fatalf("%d datagrams took the XDP fast path: this run is of the software path", hits)
	}
	atXDP := after.xdpGeneve - before.xdpGeneve
	sentByXGW := after.txExternal - before.txExternal
	t.Logf("integrity: sent %d in %v (%.0f pps offered), received %d (%.0f pps), lost %d (%.3f%%), duplicated %d, corrupted %d",
		n, sendTime.Round(time.Millisecond), float64(n)/sendTime.Seconds(), got, float64(got)/sendTime.Seconds(), lost, 100*float64(lost)/float64(n), dup, corrupt)
	t.Logf("integrity by stage: VM sent %d -> OVS delivered to the gateway's XDP %d -> xgw transmitted %d -> ext received %d", n, atXDP, sentByXGW, got)
	logStats(t, g)
	if dup != 0 || corrupt != 0 {
		t.Fatalf("%d duplicated, %d corrupted datagrams", dup, corrupt)
	}
	// The gateway's own loss: what reached its XDP program but not ext.
	if xgwLost := int64(atXDP) - int64(got); float64(xgwLost) > 0.01*float64(atXDP) {
		t.Fatalf("xgw lost %d of the %d datagrams it was handed (over 1%%)", xgwLost, atXDP)
	}
	// Loss before the gateway is OVS's (its userspace datapath shares two
	// cores with everything else here, and lost 56% of a run while other
	// labs loaded both cores): reported above, not hidden, and only a sign
	// of breakage when almost nothing reaches the gateway. What reached it
	// is held to the 1% above.
	if float64(atXDP) < 0.1*float64(n) {
		t.Fatalf("only %d of %d datagrams reached the gateway: the path is broken, not just loaded", atXDP, n)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// acceptedFrom returns the peer address iperf3's server printed.
func acceptedFrom(text string) string {
	const p = "Accepted connection from "
	i := strings.Index(text, p)
	if i < 0 {
		return ""
	}
	rest := text[i+len(p):]
	if j := strings.IndexAny(rest, ", \n"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// logStats logs the gateway's counters that explain a loss figure.
func logStats(t *testing.T, g *gateway) {
	out, err := g.xgw("stats")
	if err != nil {
		t.Logf("stats: %v", err)
		return
	}
	t.Logf("xgw stats:\n%s", out)
}

type counters struct{ xdpGeneve, txExternal uint64 }

// counters reads the gateway's Geneve-steered and external-TX counts.
func (g *gateway) counters() counters {
	st := g.stats()
	var c counters
	if xs, ok := st["xdp"].([]any); ok {
		for _, x := range xs {
			m, _ := x.(map[string]any)
			s, _ := m["stats"].(map[string]any)
			r, _ := s["RedirectGeneve"].(map[string]any)
			if v, ok := r["Packets"].(float64); ok {
				c.xdpGeneve += uint64(v)
			}
		}
	}
	p, _ := st["pipeline"].(map[string]any)
	tx, _ := p["tx"].(map[string]any)
	if v, ok := tx["external"].(float64); ok {
		c.txExternal = uint64(v)
	}
	return c
}
