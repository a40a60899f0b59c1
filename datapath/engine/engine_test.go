package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// reflector is a Processor that sends every frame back where it came from,
// addresses swapped (checksums are unchanged by a swap). Frames from the
// external port go out of the underlay instead, with dst MAC underlayPeer,
// to exercise the copy across interfaces.
type reflector struct {
	underlayPeer packet.MAC
	mu           sync.Mutex
	seen         [flow.NumPorts]int
}

func (r *reflector) Process(batch []datapath.Packet) {
	for i := range batch {
		p := &batch[i]
		f := p.Frame()
		eth := packet.Ethernet(f)
		src, dst := eth.Src(), eth.Dst()
		eth.SetSrc(dst)
		eth.SetDst(src)
		ip := f[14:]
		var a, b [4]byte
		copy(a[:], ip[12:16])
		copy(b[:], ip[16:20])
		copy(ip[12:16], b[:])
		copy(ip[16:20], a[:])
		udp := ip[20:]
		udp[0], udp[1], udp[2], udp[3] = udp[2], udp[3], udp[0], udp[1]
		p.Verdict, p.OutPort = datapath.VerdictTX, p.InPort
		if p.InPort == flow.External {
			p.OutPort = flow.Underlay
			eth.SetDst(r.underlayPeer)
		}
		r.mu.Lock()
		r.seen[p.InPort]++
		r.mu.Unlock()
	}
}

func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNS runs fn on a thread switched into ns.
func inNS(t testing.TB, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic("cannot return to the original namespace: " + err.Error())
		}
	}()
	fn()
}

// TestEngineReflect: ns A runs xdp_gw + the engine on ua (underlay, VTEP
// 192.0.2.1) and ea (external, NAT address 198.51.100.1); ns B sends UDP
// to the VTEP's Geneve port (answered in place on the underlay) and to the
// NAT address (answered by copy out of the underlay). With two queues per
// veth, one worker serves each queue and both must carry traffic.
func TestEngineReflect(t *testing.T) {
	for _, q := range []int{1, 2} {
		t.Run(fmt.Sprintf("queues=%d", q), func(t *testing.T) { testEngineReflect(t, q) })
	}
}

func testEngineReflect(t *testing.T, queues int) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root for namespaces, XDP and AF_XDP")
	}
	var r [3]byte
	rand.Read(r[:])
	a, b := "xgweng-"+hex.EncodeToString(r[:])+"-a", "xgweng-"+hex.EncodeToString(r[:])+"-b"
	for _, n := range []string{a, b} {
		sh(t, "ip", "netns", "add", n)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		sh(t, "ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
			"net.ipv6.conf.default.disable_ipv6=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	}
	for _, l := range [][4]string{{"ua", "192.0.2.1/24", "ub", "192.0.2.2/24"}, {"ea", "192.0.3.1/24", "eb", "192.0.3.2/24"}} {
		nq := fmt.Sprint(queues)
		sh(t, "ip", "-n", a, "link", "add", l[0], "numtxqueues", nq, "numrxqueues", nq, "type", "veth",
			"peer", "name", l[2], "numtxqueues", nq, "numrxqueues", nq, "netns", b)
		for _, x := range [][3]string{{a, l[0], l[1]}, {b, l[2], l[3]}} {
			sh(t, "ip", "-n", x[0], "addr", "add", x[2], "dev", x[1])
			sh(t, "ip", "-n", x[0], "link", "set", x[1], "up")
			sh(t, "ip", "netns", "exec", x[0], "ethtool", "-K", x[1], "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off")
		}
	}
	sh(t, "ip", "-n", b, "route", "add", "198.51.100.0/24", "via", "192.0.3.1", "dev", "eb")
	hw, _ := net.ParseMAC(strings.TrimSpace(sh(t, "ip", "netns", "exec", b, "cat", "/sys/class/net/ub/address")))

	refl := &reflector{underlayPeer: packet.MAC(hw)}
	var eng *Engine
	inNS(t, a, func() {
		objs := map[string]*bpf.Objects{}
		for _, ifname := range []string{"ua", "ea"} {
			o, err := bpf.Load(bpf.Options{VTEP: netip.MustParseAddr("192.0.2.1")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { o.Close() })
			if err := o.AddNATAddr(netip.MustParseAddr("198.51.100.1")); err != nil {
				t.Fatal(err)
			}
			ifi, err := net.InterfaceByName(ifname)
			if err != nil {
				t.Fatal(err)
			}
			l, err := o.Attach(ifi.Index, bpf.ModeNative)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			objs[ifname] = o
		}
		var err error
		eng, err = New(Config{
			Underlay: "ua", External: "ea", VTEP: packet.IP4{192, 0, 2, 1},
			NewProcessor: func() Processor { return refl },
			Register:     func(ifname string, q, fd int) error { return objs[ifname].RegisterXSK(q, fd) },
			PollTimeout:  10 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { eng.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- eng.Run(ctx) }()

	// Sockets in B: each connected, so the reflected datagram (source and
	// destination swapped) is delivered to it. A veth picks the receive
	// queue per sending socket, so with two queues 16 sockets put traffic
	// on both (all on one: a 2^-15 chance).
	type sock struct {
		name string
		conn *net.UDPConn
	}
	var socks []sock
	inNS(t, b, func() {
		for i := 0; i < 8; i++ {
			g, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 6081})
			if err != nil {
				t.Fatal(err)
			}
			n, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 7})
			if err != nil {
				t.Fatal(err)
			}
			socks = append(socks, sock{"in place (underlay)", g}, sock{"copied (external → underlay)", n})
		}
	})
	defer func() {
		for _, s := range socks {
			s.conn.Close()
		}
	}()
	for _, c := range socks {
		msg := []byte("xgw engine " + c.name)
		buf := make([]byte, 1500)
		got := false
		for try := 0; try < 20 && !got; try++ { // the first tries wait for ARP
			c.conn.Write(msg)
			c.conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
			n, err := c.conn.Read(buf)
			got = err == nil && string(buf[:n]) == string(msg)
		}
		if !got {
			t.Errorf("%s: no reflected datagram; engine stats %+v, ports %+v", c.name, eng.Stats(), eng.Ports())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	s := eng.Stats()
	if s.TxInPlace == 0 || s.TxCopied == 0 || s.PassAfterRedirect != 0 {
		t.Fatalf("stats %+v: want in-place and copied TX, no pass-after-redirect", s)
	}
	ws := eng.Workers()
	if len(ws) != queues {
		t.Fatalf("workers %+v: want one per queue", ws)
	}
	for _, w := range ws {
		if w.TID == 0 || w.Busy <= 0 {
			t.Fatalf("worker %+v: want its thread and CPU time", w)
		}
	}
	if len(eng.Ports()) < 2*queues {
		t.Fatalf("ports %+v: want one per interface and queue", eng.Ports())
	}
	for q := 0; q < queues; q++ {
		var rx uint64
		for _, p := range eng.Ports() {
			if p.Queue == q {
				rx += p.Stats.RxPackets
			}
		}
		if rx == 0 {
			t.Fatalf("queue %d received nothing: ports %+v", q, eng.Ports())
		}
	}
}
