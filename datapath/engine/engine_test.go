package engine

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/datapath/afxdp"
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
	refl := &reflector{}
	l := newEngLabQueues(t, refl, afxdp.Config{}, queues)
	refl.underlayPeer = l.ubMAC
	eng, b := l.eng, l.b
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
