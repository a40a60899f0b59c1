package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bpf"
)

// TestFragments (issue 10 item 9, RFC 4787 REQ-14): a 4000-byte UDP
// datagram from a VM, which the VM's kernel fragments (MTU 1500), arrives
// whole at the external host, and the host's 4000-byte reply, fragmented
// by its kernel, arrives whole at the VM: xgw translates every fragment
// by the first fragment's connection, both ways. With offload on, the
// fast path punts the fragments of the (offloaded) flow to software.
func TestFragments(t *testing.T) {
	g := startGateway(t)
	a := g.addrs
	vm := a.VMs[0]
	// The VM's NIC and its OVS port at 1500 (the lab leaves room for
	// Geneve with 1400): the host's 1500-byte fragments must reach the VM.
	for _, c := range [][]string{
		{"vm", "ip", "link", "set", vm.Iface, "mtu", "1500"},
		{"hv", "ip", "link", "set", vm.HVPort, "mtu", "1500"},
	} {
		if out, err := g.run(c[0], c[1:]...); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}

	payload := func(seed byte) []byte {
		b := make([]byte, 4000)
		for i := range b {
			b[i] = seed + byte(i*13)
		}
		return b
	}

	t.Run("vm-to-ext", func(t *testing.T) {
		sink, err := g.lab.StartUDPSink(9011)
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Stop()
		c := dialFromVM(t, g, 40011, 9011)
		defer c.Close()
		// The first datagram may be spent resolving the next hop: send
		// until the sink has one, then count exactly.
		waitFor(t, 10*time.Second, func() bool {
			c.Write(payload(1))
			time.Sleep(50 * time.Millisecond)
			p, _, _ := sink.UDPSinkStats()
			return p > 0
		}, "a 4000-byte datagram from the VM at the sink")
		p0, b0, _ := sink.UDPSinkStats()
		if b0 != p0*4000 {
			t.Fatalf("the sink got %d datagrams of %d bytes in all: not whole 4000-byte datagrams", p0, b0)
		}
		for range 20 {
			if _, err := c.Write(payload(2)); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 10*time.Second, func() bool { p, _, _ := sink.UDPSinkStats(); return p >= p0+20 },
			"20 more 4000-byte datagrams at the sink")
		p, b, _ := sink.UDPSinkStats()
		if b != p*4000 {
			t.Fatalf("the sink got %d datagrams, %d bytes: not all whole", p, b)
		}
	})

	t.Run("round-trip", func(t *testing.T) {
		srv, err := g.lab.StartUDPEcho(7011)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		c := dialFromVM(t, g, 40012, 7011)
		defer c.Close()
		buf := make([]byte, 9000)
		got := 0
		for i := range 30 {
			msg := payload(byte(i))
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(buf)
			switch {
			case err != nil:
				t.Logf("datagram %d: %v", i, err)
				if i >= 4 && got == 0 {
					t.Fatalf("no 4000-byte datagram came back in %d tries\n%s", i+1, fragStats(t, g))
				}
			case !bytes.Equal(buf[:n], msg):
				t.Fatalf("datagram %d: %d bytes back, not the 4000 sent", i, n)
			default:
				got++
			}
		}
		// The first may be lost to ARP; on a busy machine a few more.
		if got < 25 {
			t.Fatalf("%d of 30 4000-byte datagrams came back whole\n%s", got, fragStats(t, g))
		}
	})

	t.Run("ping-4000", func(t *testing.T) {
		// ICMP echo of 4000 bytes: fragmented both ways, translated by
		// the echo id the first fragment carries.
		out, err := g.run("vm", "ping", "-c", "5", "-i", "0.2", "-W", "2", "-s", "4000", a.ExtIP.String())
		var sent, recv int
		if m := pingSummary.FindStringSubmatch(out); m != nil {
			sent, _ = strconv.Atoi(m[1])
			recv, _ = strconv.Atoi(m[2])
		}
		if recv < 4 {
			t.Fatalf("4000-byte ping VM -> ext: %d of %d answered: %v\n%s\n%s", recv, sent, err, out, fragStats(t, g))
		}
	})

	t.Run("counted", func(t *testing.T) {
		var s struct {
			Pipeline struct {
				Drops     map[string]uint64 `json:"drops"`
				Fragments map[string]uint64 `json:"fragments"`
			} `json:"pipeline"`
			XDP []struct {
				Stats struct {
					FastPath struct {
						Punts []struct{ Packets uint64 }
					}
				} `json:"stats"`
			} `json:"xdp"`
		}
		out, err := g.xgw("stats", "--json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatal(err)
		}
		f := s.Pipeline.Fragments
		// 21+ datagrams one way and 25+ round trips, 2 later fragments each.
		if f["known"]+f["released"] < 2*(21+2*25) {
			t.Fatalf("later fragments translated: %d known + %d released, want >= %d\n%s", f["known"], f["released"], 2*(21+2*25), out)
		}
		for _, r := range []string{"fragment-overlap", "fragment-too-many", "fragment-too-small", "fragment-memory"} {
			if s.Pipeline.Drops[r] != 0 {
				t.Errorf("drop %s: %d", r, s.Pipeline.Drops[r])
			}
		}
		// A first fragment spent resolving the next hop takes its two
		// later fragments with it ("fragment": first dropped), no more.
		if d, nm := s.Pipeline.Drops["fragment"], s.Pipeline.Drops["neighbor-miss"]; d > 2*nm {
			t.Errorf("%d later fragments dropped for %d first fragments lost to neighbour misses", d, nm)
		}
		// xdp_gw punts fragments to the software path (the UDP flows
		// are offloaded once answered; fragments never are).
		var punts uint64
		for _, x := range s.XDP {
			if int(bpf.PuntFragment) < len(x.Stats.FastPath.Punts) {
				punts += x.Stats.FastPath.Punts[bpf.PuntFragment].Packets
			}
		}
		if punts < 3*(21+2*25) {
			t.Errorf("fast path fragment punts %d, want >= %d", punts, 3*(21+2*25))
		}
		t.Logf("fragments: %v; fast-path fragment punts %d", f, punts)
	})
}

// dialFromVM opens a UDP socket in VM 1 from sport to the external host's
// dport.
func dialFromVM(t *testing.T, g *gateway, sport, dport int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	a := g.addrs
	if err := g.lab.Do("vm", func() (err error) {
		c, err = net.DialUDP("udp4", &net.UDPAddr{IP: a.VMs[0].IP.AsSlice(), Port: sport}, &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: dport})
		return
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

// fragStats is the gateway's fragment counters, for a failure message.
func fragStats(t *testing.T, g *gateway) string {
	s := g.stats()
	p, _ := s["pipeline"].(map[string]any)
	return fmt.Sprintf("fragments %v\ndrops %v", p["fragments"], p["drops"])
}

// pingSummary matches ping's "N packets transmitted, M received".
var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
