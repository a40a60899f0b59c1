package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/bpf"
)

// labUnderlayMTU is the MTU TestRouter configures on xgw's underlay
// (below the veth's 1600, as OVN's gateway_mtu would): an inner packet
// may then be 1400 - 58 (Geneve) bytes long, which also fits the VM's
// NIC (1400), so a datagram of the learnt path MTU arrives whole.
const (
	labUnderlayMTU = 1400
	labInnerMax    = labUnderlayMTU - 58
)

// withUnderlayMTU adds interfaces.underlay.mtu to the lab's YAML, at the
// indentation of the vtep_ip key beside it.
func withUnderlayMTU(t *testing.T, y string, mtu int) string {
	for _, line := range strings.Split(y, "\n") {
		if strings.Contains(line, "vtep_ip:") {
			indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
			return replaceOnce(t, y, line+"\n", fmt.Sprintf("%s\n%smtu: %d\n", line, indent, mtu))
		}
	}
	t.Fatalf("no vtep_ip in the lab config:\n%s", y)
	return ""
}

// fastPathStats is the first XDP copy's stats (one fast path serves every
// interface).
func (g *gateway) fastPathStats() bpf.FastPathStats {
	g.t.Helper()
	out, err := g.xgw("stats", "--json")
	if err != nil {
		g.t.Fatal(err)
	}
	var s struct {
		XDP []struct {
			Stats bpf.Stats `json:"stats"`
		} `json:"xdp"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || len(s.XDP) == 0 {
		g.t.Fatalf("stats json (%v): %s", err, out)
	}
	return s.XDP[0].Stats.FastPath
}

// icmpSent is the pipeline's count of ICMP the routers generated.
func (g *gateway) icmpSent() uint64 {
	g.t.Helper()
	p, _ := g.stats()["pipeline"].(map[string]any)
	v, ok := p["icmp_sent"].(float64)
	if !ok {
		g.t.Fatalf("stats has no pipeline.icmp_sent: %v", p)
	}
	return uint64(v)
}

// TestRouter: xgw answers on the wire as OVN's gateway router does
// (issue 10 item 6 and bug 5), in one lab with offload on: traceroute-
// style TTL probes from a VM get time exceeded from the router's join
// port; the router's own addresses answer ping from both sides; a
// 1500-byte DF datagram from the external host that does not fit the
// underlay after encapsulation gets fragmentation needed with the
// underlay MTU less 58, for an offloaded flow, and the sender's path MTU
// then carries the flow; a reload whose config is a FIFO blocks neither
// `xgw stats` nor SIGTERM.
func TestRouter(t *testing.T) {
	g := startGatewayWith(t, gwOptions{mutate: func(y string) string { return withUnderlayMTU(t, y, labUnderlayMTU) }})
	a := g.addrs
	ext := a.ExtIP.String()
	join := a.GRJoinIP.Addr().String()
	// The first packets may be spent resolving the next hop.
	g.run("vm", "ping", "-c", "2", "-W", "1", ext)

	t.Run("ttl-probes", func(t *testing.T) {
		// The VM's TTL is decremented once by the distributed router
		// (OVS dec_ttl), once by the gateway router: TTL 2 expires at the
		// gateway router, TTL 3 reaches ext (one hop past it).
		before := g.icmpSent()
		hops := map[int]string{}
		for ttl := 2; ttl <= 3; ttl++ {
			out, _ := g.run("vm", "ping", "-n", "-c", "1", "-W", "2", "-t", fmt.Sprint(ttl), ext)
			hops[ttl] = out
		}
		if !strings.Contains(hops[2], "From "+join) || !strings.Contains(hops[2], "Time to live exceeded") {
			t.Fatalf("TTL 2: want time exceeded from the router's join port %s:\n%s", join, hops[2])
		}
		if !strings.Contains(hops[3], "1 received") {
			t.Fatalf("TTL 3: want the echo reply from %s:\n%s", ext, hops[3])
		}
		if after := g.icmpSent(); after <= before {
			t.Fatalf("icmp_sent %d -> %d: the time exceeded was not xgw's", before, after)
		}
	})

	t.Run("ping-router-ips", func(t *testing.T) {
		before := g.icmpSent()
		// The join port's address, over Geneve from the VM: xgw answers.
		if out, err := g.run("vm", "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", join); err != nil || !strings.Contains(out, "3 received") {
			t.Fatalf("ping the router's join port %s from the VM: %v\n%s", join, err, out)
		}
		if after := g.icmpSent(); after < before+3 {
			t.Fatalf("icmp_sent %d -> %d: xgw did not answer the 3 echoes", before, after)
		}
		// The external port's address from the external host (the host
		// owns it in the lab, so its kernel answers; xgw passes it up).
		gx := a.GWExternalIP.Addr().String()
		if out, err := g.run("ext", "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", gx); err != nil || !strings.Contains(out, "3 received") {
			t.Fatalf("ping the router's external port %s from ext: %v\n%s", gx, err, out)
		}
	})

	t.Run("frag-needed", func(t *testing.T) { fragNeeded(t, g) })

	t.Run("reload-fifo", func(t *testing.T) { reloadFIFO(t, g) })
}

// fragNeeded opens a UDP flow from the VM, waits until its replies take
// the fast path, then sends a 1500-byte DF reply from ext.
func fragNeeded(t *testing.T, g *gateway) {
	a := g.addrs
	const port = 7011
	var srv, cli *net.UDPConn
	if err := g.lab.Do("ext", func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: port})
		if err != nil {
			return err
		}
		// DF on everything it sends, and EMSGSIZE past the path MTU.
		rc, err := srv.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
		}); err != nil {
			return err
		}
		return serr
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := g.lab.Do("vm", func() (err error) {
		cli, err = net.DialUDP("udp4", &net.UDPAddr{IP: a.VMs[0].IP.AsSlice(), Port: 40011}, &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: port})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	buf := make([]byte, 2048)
	var peer *net.UDPAddr
	// The VM speaks first; ext answers small replies until they are
	// forwarded by the fast path (the flow is offloaded).
	waitFor(t, 15*time.Second, func() bool {
		cli.Write([]byte("hello"))
		srv.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, from, err := srv.ReadFromUDP(buf); err == nil {
			peer = from
		}
		if peer == nil {
			return false
		}
		hits := g.fastPathStats().HitIngress.Packets
		srv.WriteToUDP([]byte("small"), peer)
		cli.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		cli.Read(buf)
		return g.fastPathStats().HitIngress.Packets > hits
	}, "the flow's replies to take the fast path")
	if peer.IP.String() != a.SNATIP.String() {
		t.Fatalf("ext saw the VM as %s, want the SNAT address %s", peer, a.SNATIP)
	}

	before, icmpBefore := g.fastPathStats(), g.icmpSent()
	big := make([]byte, 1500-28)
	if _, err := srv.WriteToUDP(big, peer); err != nil {
		t.Fatalf("send the 1500-byte datagram: %v", err)
	}
	// ext's kernel takes the router's fragmentation needed as the new
	// path MTU toward the SNAT address.
	var route string
	waitFor(t, 5*time.Second, func() bool {
		route, _ = g.run("ext", "ip", "-4", "route", "get", a.SNATIP.String())
		return strings.Contains(route, fmt.Sprintf("mtu %d", labInnerMax))
	}, fmt.Sprintf("ext's route to %s to learn mtu %d", a.SNATIP, labInnerMax))
	after := g.fastPathStats()
	if d := after.Punts[bpf.PuntTooBig].Packets - before.Punts[bpf.PuntTooBig].Packets; d != 1 {
		t.Fatalf("fast path too-big punts moved by %d, want 1 (the offloaded flow's long reply)", d)
	}
	if g.icmpSent() <= icmpBefore {
		t.Fatal("icmp_sent did not move: the fragmentation needed was not xgw's")
	}
	// Nothing of the long datagram reached the VM.
	cli.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := cli.Read(buf); err == nil {
		t.Fatalf("the VM received %d bytes; the 1500-byte datagram should not have been forwarded", n)
	}

	// The path MTU now holds: 1500 is refused at the sender, and a
	// datagram of exactly the path MTU arrives whole, by the fast path.
	if _, err := srv.WriteToUDP(big, peer); !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("a second 1500-byte send: %v, want EMSGSIZE (path MTU %d)", err, labInnerMax)
	}
	fit := make([]byte, labInnerMax-28)
	for i := range fit {
		fit[i] = byte(i)
	}
	hits := g.fastPathStats().HitIngress.Packets
	if _, err := srv.WriteToUDP(fit, peer); err != nil {
		t.Fatalf("send %d bytes: %v", len(fit), err)
	}
	cli.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := cli.Read(buf)
	if err != nil || n != len(fit) || string(buf[:n]) != string(fit) {
		t.Fatalf("the VM got %d bytes (%v), want the %d-byte datagram intact", n, err, len(fit))
	}
	if g.fastPathStats().HitIngress.Packets <= hits {
		t.Fatal("the datagram at the path MTU did not take the fast path")
	}
}

// reloadFIFO replaces the config by a FIFO nobody writes and reloads.
// Reading it would block in open(2) for a writer, and the reload used to
// hold its lock meanwhile: now the control socket answers at once, the
// reload is refused with a clear error, and SIGTERM stops the gateway.
func reloadFIFO(t *testing.T, g *gateway) {
	st := g.stats()
	applied, _ := lookup(st, "config", "reloads")
	refused, _ := lookup(st, "config", "reload_failures")
	if err := os.Rename(g.config, g.config+".orig"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(g.config, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Unblock a reader still in open(2), if any, then restore.
		if f, err := os.OpenFile(g.config, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		os.Remove(g.config)
		os.Rename(g.config+".orig", g.config)
	})
	g.hup(t)
	for i := range 5 {
		start := time.Now()
		out, err := exec.Command(xgwBin, "--control-socket", g.socket, "stats", "--json").CombinedOutput()
		if d := time.Since(start); err != nil || d > 100*time.Millisecond {
			t.Fatalf("xgw stats #%d during a reload of a FIFO: %v after %v\n%s", i, err, d, out)
		}
	}
	g.waitReloads(t, applied, refused+1)
	if !strings.Contains(g.logs.String(), "FIFO") {
		t.Fatalf("the refused reload does not say why (a FIFO):\n%s", g.logs.String())
	}
	start := time.Now()
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		t.Logf("xgw stopped %v after SIGTERM (%v)", time.Since(start), err)
		g.cmd = nil
		if err != nil {
			t.Fatalf("xgw exited with %v after SIGTERM", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("xgw did not stop within 5s of SIGTERM after a reload of a FIFO")
	}
}
