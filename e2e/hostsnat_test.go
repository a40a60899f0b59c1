package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// floatingIP is vm2's dnat_and_snat address in TestHostSNAT.
const floatingIP = "203.0.113.20"

// addNAT appends a NAT rule to the gateway router's list in the lab's
// YAML, after the rule whose external_ip line is after, with the same
// indentation.
func addNAT(t *testing.T, y, after, typ, logical, external string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^( *)- type: snat\n( *)logical_ip: .*\n *external_ip: ` + regexp.QuoteMeta(after) + `\n`)
	m := re.FindStringSubmatchIndex(y)
	if m == nil {
		t.Fatalf("no snat rule to %s in:\n%s", after, y)
	}
	dash, field := y[m[2]:m[3]], y[m[4]:m[5]]
	rule := fmt.Sprintf("%s- type: %s\n%slogical_ip: %s\n%sexternal_ip: %s\n", dash, typ, field, logical, field, external)
	return y[:m[1]] + rule + y[m[1]:]
}

// hostStats are the counters TestHostSNAT watches.
type hostStats struct {
	hits, passHost, hairpin, noConnHost uint64
}

func (g *gateway) hostStats() hostStats {
	g.t.Helper()
	out, err := g.xgw("stats", "--json")
	if err != nil {
		g.t.Fatal(err)
	}
	var s struct {
		Pipeline struct {
			Hairpin uint64            `json:"hairpin"`
			Drops   map[string]uint64 `json:"drops"`
		} `json:"pipeline"`
		XDP []struct {
			Stats struct {
				PassHost struct{ Packets uint64 }
				FastPath struct {
					HitEgress, HitIngress struct{ Packets uint64 }
				}
			} `json:"stats"`
		} `json:"xdp"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		g.t.Fatalf("stats json: %v", err)
	}
	h := hostStats{hairpin: s.Pipeline.Hairpin, noConnHost: s.Pipeline.Drops["no-connection-host-address"]}
	if len(s.XDP) > 0 { // one fast path shared by the interfaces
		h.hits = s.XDP[0].Stats.FastPath.HitEgress.Packets + s.XDP[0].Stats.FastPath.HitIngress.Packets
	}
	for _, x := range s.XDP {
		h.passHost += x.Stats.PassHost.Packets
	}
	return h
}

// TestHostSNAT is the ovn-kubernetes shape in the lab: the gateway router
// SNATs to its own external port address, 198.51.100.1, which is also
// the gw namespace's address on gw-x. Ping, UDP request/response and
// iperf3 both ways work and are offloaded (fast-path hits move); TCP to
// that address on a port outside the SNAT range still reaches a listener
// in the gateway's namespace (xdp_gw passes it: pass-host moves). Then a
// hairpin: vm reaches vm2 through vm2's floating IP, and vm2 sees the
// connection from the SNAT address.
func TestHostSNAT(t *testing.T) {
	// The lab's fixed addresses (bench/lab/addrs.go), checked below.
	const hostIP, snatIP, vm2IP = "198.51.100.1", "203.0.113.10", "10.199.100.11"
	g := startGatewayWith(t, gwOptions{vms: 2, mutate: func(y string) string {
		y = addNAT(t, y, snatIP, "dnat_and_snat", vm2IP, floatingIP)
		return replaceOnce(t, y, "external_ip: "+snatIP, "external_ip: "+hostIP)
	}})
	a := g.addrs
	if a.GWExternalIP.Addr().String() != hostIP || a.SNATIP.String() != snatIP || a.VMs[1].IP.String() != vm2IP {
		t.Fatalf("lab addresses changed: %v %v %v", a.GWExternalIP, a.SNATIP, a.VMs[1].IP)
	}
	ext := a.ExtIP.String()

	t.Run("ping", func(t *testing.T) {
		g.run("vm", "ping", "-c", "2", "-W", "1", ext) // may resolve the next hop
		out, err := g.run("vm", "ping", "-c", "3", "-i", "0.2", "-W", "2", ext)
		if err != nil || !strings.Contains(out, "3 received") {
			t.Fatalf("ping VM -> ext with SNAT to the router's address: %v\n%s\n%s", err, out, g.explain())
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
		before := g.hostStats()
		buf := make([]byte, 1500)
		got := 0
		for i := 0; i < 40; i++ {
			msg := fmt.Sprintf("request %d", i)
			c.Write([]byte(msg))
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err == nil && string(buf[:n]) == msg {
				got++
			}
			if i == 20 {
				// Answered: offloaded in the background; give it a moment.
				waitFor(t, 5*time.Second, func() bool {
					fl, _ := g.xgw("dump-flows", "--type", "offloaded")
					return strings.Contains(fl, "7007")
				}, "the UDP flow to be offloaded")
			}
		}
		if got < 38 {
			t.Fatalf("%d of 40 UDP requests answered", got)
		}
		if after := g.hostStats(); after.hits <= before.hits {
			t.Fatalf("fast-path hits %d -> %d: the UDP flow to the host's address was not offloaded\n%s", before.hits, after.hits, g.explain())
		}
	})

	t.Run("iperf3-tcp", func(t *testing.T) {
		srv, err := g.lab.StartIperfServer()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		for _, reverse := range []bool{false, true} {
			before := g.hostStats()
			res := g.iperf3(t, ext, 2, reverse)
			after := g.hostStats()
			mbps, peer := res.Mbps, res.Peer
			t.Logf("iperf3 TCP reverse=%v: %.1f Mbit/s, server saw %s, fast-path hits +%d", reverse, mbps, peer, after.hits-before.hits)
			if mbps < 20 {
				t.Fatalf("iperf3 TCP reverse=%v: %.3f Mbit/s\n%s", reverse, mbps, g.explain())
			}
			if peer != hostIP {
				t.Fatalf("server saw %q, want the router's address %s", peer, hostIP)
			}
			if after.hits-before.hits < 1000 {
				t.Fatalf("fast-path hits +%d during iperf3: not offloaded\n%s", after.hits-before.hits, g.explain())
			}
		}
	})

	t.Run("host-service", func(t *testing.T) {
		// A service of the gateway's host on its own address, outside the
		// SNAT range (61000-65535): xdp_gw must leave it to the kernel.
		var ln net.Listener
		if err := g.lab.Do("gw", func() (err error) {
			ln, err = net.Listen("tcp4", net.JoinHostPort(hostIP, "2222"))
			return
		}); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-gw\r\n"))
			c.Close()
		}()
		before := g.hostStats()
		var got []byte
		var dialErr error
		g.lab.Do("ext", func() error {
			c, err := net.DialTimeout("tcp4", net.JoinHostPort(hostIP, "2222"), 3*time.Second)
			if err != nil {
				dialErr = err
				return nil
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			got, dialErr = io.ReadAll(c)
			return nil
		})
		if dialErr != nil || string(got) != "SSH-2.0-gw\r\n" {
			t.Fatalf("TCP to the host's address on 2222: %v, read %q\n%s", dialErr, got, g.explain())
		}
		after := g.hostStats()
		if after.passHost <= before.passHost {
			t.Fatalf("pass-host %d -> %d: the host's traffic was not counted", before.passHost, after.passHost)
		}
		if after.noConnHost != before.noConnHost {
			t.Fatalf("no-connection-host-address moved (%d -> %d): host traffic reached xgw", before.noConnHost, after.noConnHost)
		}
	})

	t.Run("hairpin", func(t *testing.T) {
		before := g.hostStats()
		g.run("vm", "ping", "-c", "1", "-W", "1", floatingIP)
		out, err := g.run("vm", "ping", "-c", "3", "-i", "0.2", "-W", "2", floatingIP)
		if err != nil || !strings.Contains(out, "3 received") {
			t.Fatalf("ping vm -> vm2's floating IP %s: %v\n%s\n%s", floatingIP, err, out, g.explain())
		}
		// TCP: vm2 sees vm from the SNAT address; vm sees vm2 as the
		// floating IP.
		var ln net.Listener
		if err := g.lab.Do("vm2", func() (err error) {
			ln, err = net.Listen("tcp4", ":8080")
			return
		}); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		peer := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				peer <- err.Error()
				return
			}
			peer <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			io.Copy(c, c)
			c.Close()
		}()
		var echoed string
		var dialErr error
		g.lab.Do("vm", func() error {
			c, err := net.DialTimeout("tcp4", net.JoinHostPort(floatingIP, "8080"), 3*time.Second)
			if err != nil {
				dialErr = err
				return nil
			}
			defer c.Close()
			c.Write([]byte("hairpin"))
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			b := make([]byte, 7)
			_, dialErr = io.ReadFull(c, b)
			echoed = string(b)
			return nil
		})
		if dialErr != nil || echoed != "hairpin" {
			t.Fatalf("TCP vm -> %s:8080 (vm2): %v, echoed %q\n%s", floatingIP, dialErr, echoed, g.explain())
		}
		select {
		case p := <-peer:
			if p != hostIP {
				t.Fatalf("vm2 saw the connection from %s, want the SNAT address %s", p, hostIP)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("vm2 accepted nothing")
		}
		if after := g.hostStats(); after.hairpin-before.hairpin < 6 {
			t.Fatalf("hairpin counter %d -> %d", before.hairpin, after.hairpin)
		}
	})

	t.Run("hairpin-udp-offloaded", func(t *testing.T) {
		// A UDP echo in vm2, asked by vm through the floating IP: once
		// answered the flow is offloaded, and the fast path forwards it
		// Geneve to Geneve.
		var srv *net.UDPConn
		if err := g.lab.Do("vm2", func() (err error) {
			srv, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 7008})
			return
		}); err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		go func() {
			b := make([]byte, 1500)
			for {
				n, from, err := srv.ReadFromUDP(b)
				if err != nil {
					return
				}
				srv.WriteToUDP(b[:n], from)
			}
		}()
		var c *net.UDPConn
		if err := g.lab.Do("vm", func() (err error) {
			c, err = net.DialUDP("udp4", &net.UDPAddr{IP: a.VMs[0].IP.AsSlice(), Port: 40008}, &net.UDPAddr{IP: net.ParseIP(floatingIP), Port: 7008})
			return
		}); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ask := func(n int) int {
			got := 0
			buf := make([]byte, 1500)
			for i := 0; i < n; i++ {
				msg := fmt.Sprintf("hairpin %d", i)
				c.Write([]byte(msg))
				c.SetReadDeadline(time.Now().Add(time.Second))
				if k, err := c.Read(buf); err == nil && string(buf[:k]) == msg {
					got++
				}
			}
			return got
		}
		if got := ask(10); got < 9 {
			t.Fatalf("%d of 10 hairpinned UDP requests answered\n%s", got, g.explain())
		}
		waitFor(t, 5*time.Second, func() bool {
			fl, _ := g.xgw("dump-flows", "--type", "offloaded")
			return strings.Contains(fl, "dst="+floatingIP)
		}, "the hairpinned UDP flow to be offloaded")
		before := g.hostStats()
		if got := ask(20); got < 19 {
			t.Fatalf("%d of 20 offloaded hairpin requests answered\n%s", got, g.explain())
		}
		if after := g.hostStats(); after.hits-before.hits < 38 {
			t.Fatalf("fast-path hits +%d for 20 offloaded hairpin round trips, want >= 38\n%s", after.hits-before.hits, g.explain())
		}
	})
}
