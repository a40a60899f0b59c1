package e2e

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestARPForNATAddress: the external host reaches a NAT address with no
// static route or neighbour entry for it, as it would reach OVN's gateway
// router. The lab's SNAT address is moved into the external subnet
// (198.51.100.10, not an address of the gateway's namespace, whose kernel
// does not answer for it); ext then has to resolve it by ARP, which xgw
// answers from gr1-ext's MAC. xgw also announces it on start: a gratuitous
// ARP arrives at ext (seen by tcpdump, and with arp_accept=1 it creates
// ext's neighbour entry without any traffic).
func TestARPForNATAddress(t *testing.T) {
	const natIP = "198.51.100.10"
	g := newLabGateway(t)
	a := g.addrs
	mac := a.GWExternalMAC.String()
	y, err := g.lab.XGWConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg := replaceOnce(t, string(y), "external_ip: "+a.SNATIP.String(), "external_ip: "+natIP)
	if err := os.WriteFile(g.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// ext: nothing that leads to the address but its connected subnet.
	g.run("ext", "ip", "route", "del", a.SNATIP.String()+"/32")
	g.run("ext", "ip", "neigh", "del", natIP, "dev", a.ExtIface)
	if out, err := g.run("ext", "sysctl", "-w", "net.ipv4.conf."+a.ExtIface+".arp_accept=1"); err != nil {
		t.Fatalf("arp_accept: %v %s", err, out)
	}
	if out, _ := g.run("ext", "ip", "route", "get", natIP); strings.Contains(out, " via ") {
		t.Fatalf("ext still routes %s through a gateway: %s", natIP, out)
	}

	// Capture the announcement: tcpdump must be listening before xgw starts.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dump := g.lab.ExecContext(ctx, "ext", "tcpdump", "-i", a.ExtIface, "-n", "-e", "-l", "-c", "1",
		"arp and arp[6:2] = 1 and arp[14:4] = arp[24:4]")
	stdout, _ := dump.StdoutPipe()
	stderr, _ := dump.StderrPipe()
	if err := dump.Start(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	defer dump.Wait()
	defer cancel()
	listening := make(chan string, 1)
	go func() {
		var seen strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "listening on") {
				listening <- ""
				return
			}
		}
		listening <- seen.String()
	}()
	select {
	case s := <-listening:
		if s != "" {
			t.Fatalf("tcpdump did not start:\n%s", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump not listening after 10s")
	}
	captured := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		captured <- b.String()
	}()

	g.start()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("xgw log:\n%s", g.logs.String())
		}
	})

	t.Run("gratuitous-arp-on-start", func(t *testing.T) {
		var got string
		select {
		case got = <-captured:
		case <-time.After(15 * time.Second):
			cancel()
			t.Fatalf("no gratuitous ARP for %s at ext within 15s of xgw's start (tcpdump saw: %q)", natIP, <-captured)
		}
		if !strings.Contains(got, mac) || !strings.Contains(got, natIP) {
			t.Fatalf("captured %q, want a gratuitous ARP for %s from %s", got, natIP, mac)
		}
		// With arp_accept, the announcement alone made ext's entry.
		waitFor(t, 5*time.Second, func() bool {
			neigh, _ := g.run("ext", "ip", "neigh", "show", natIP, "dev", a.ExtIface)
			return strings.Contains(neigh, mac)
		}, "ext's neighbour entry for "+natIP+" from the announcement")
	})

	t.Run("arp-answered", func(t *testing.T) {
		// Forget the announcement: ext must ask, and xgw answer.
		if out, err := g.run("ext", "ip", "neigh", "del", natIP, "dev", a.ExtIface); err != nil {
			t.Logf("ip neigh del: %v %s", err, out)
		}
		if out, _ := g.run("ext", "ip", "neigh", "show", natIP, "dev", a.ExtIface); strings.Contains(out, mac) {
			t.Fatalf("ext still has %s: %s", natIP, out)
		}
		ext := a.ExtIP.String()
		g.run("vm", "ping", "-c", "2", "-W", "1", ext) // next hops resolve
		out, err := g.run("vm", "ping", "-c", "3", "-i", "0.2", "-W", "2", ext)
		if err != nil || !strings.Contains(out, "3 received") {
			neigh, _ := g.run("ext", "ip", "neigh")
			t.Fatalf("ping VM -> ext SNATed to %s: %v\n%s\next's neighbours:\n%s", natIP, err, out, neigh)
		}
		neigh, _ := g.run("ext", "ip", "neigh", "show", natIP, "dev", a.ExtIface)
		if !strings.Contains(neigh, mac) {
			t.Fatalf("ext resolved %s to %q, want %s", natIP, neigh, mac)
		}
		p, _ := g.stats()["pipeline"].(map[string]any)
		if n, _ := p["arp_replies_external"].(float64); n < 1 {
			t.Fatalf("arp_replies_external = %v, want >= 1", p["arp_replies_external"])
		}
		// The router's own address stays the kernel's to answer.
		gwIP := a.GWExternalIP.Addr().String()
		g.run("ext", "ip", "neigh", "del", gwIP, "dev", a.ExtIface)
		if out, err := g.run("ext", "ping", "-c", "2", "-W", "1", gwIP); err != nil {
			t.Fatalf("ping ext -> the gateway's own external address: %v\n%s", err, out)
		}
	})
}
