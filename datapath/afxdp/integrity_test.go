package afxdp_test

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/datapath/afxdp"
)

var (
	integrityN = flag.Int("integrity.n", 0, "packets for TestIntegrity* (default 100000, or $XGW_INTEGRITY_N)")
	window     = flag.Int("integrity.window", 256, "max unanswered packets; above ~256 the veth rings overflow and loss is expected")
)

func packets(t *testing.T) int {
	if *integrityN > 0 {
		return *integrityN
	}
	if s := os.Getenv("XGW_INTEGRITY_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("XGW_INTEGRITY_N=%q: %v", s, err)
		}
		return n
	}
	return 100000
}

const queues = 2

var (
	addrA  = netip.MustParseAddr("198.51.100.1")
	addrB  = netip.MustParseAddr("198.51.100.2") // a NAT address of "the gateway"
	addrA2 = "198.51.101.1/24"
	addrB2 = "198.51.101.2/24"
)

// rig is the lab wired up: xdp_gw on vb steering addrB to one port per
// queue, xdp_pass on A's side, and, with cross, a second link va2/vb2 whose
// vb2 ports transmit what vb receives.
type rig struct {
	*lab
	objs  *bpf.Objects
	in    []afxdp.Port
	out   []afxdp.Port
	refl  []*reflector
	peers sync.WaitGroup
}

func newRig(t *testing.T, cross bool) *rig {
	l := newLab(t, queues)
	l.link("va", addrA.String()+"/24", "vb", addrB.String()+"/24")
	if cross {
		l.link("va2", addrA2, "vb2", addrB2)
	}
	vbMAC := l.mac(l.b, "vb")
	// Static neighbour: no ARP queueing/drops at the start of a burst.
	l.ip("-n", l.a, "neigh", "replace", addrB.String(), "lladdr", vbMAC.String(), "dev", "va", "nud", "permanent")

	objs, err := bpf.Load(bpf.Options{VTEP: netip.MustParseAddr("198.51.100.254")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	if err := objs.AddNATAddr(addrB); err != nil {
		t.Fatal(err)
	}
	r := &rig{lab: l, objs: objs}
	aIfs := []string{"va"}
	if cross {
		aIfs = append(aIfs, "va2")
	}
	for _, ifname := range aIfs {
		l.do(l.a, func() error {
			ifi, err := net.InterfaceByName(ifname)
			if err != nil {
				return err
			}
			lk, err := objs.AttachPass(ifi.Index, bpf.ModeNative)
			if err != nil {
				return err
			}
			t.Cleanup(func() { lk.Close() })
			return nil
		})
	}
	l.do(l.b, func() error {
		ifi, err := net.InterfaceByName("vb")
		if err != nil {
			return err
		}
		lk, err := objs.Attach(ifi.Index, bpf.ModeNative)
		if err != nil {
			return err
		}
		t.Cleanup(func() { lk.Close() })
		for q := 0; q < queues; q++ {
			p, err := afxdp.Open("vb", q, afxdp.Config{})
			if err != nil {
				return err
			}
			t.Cleanup(func() { p.Close() })
			r.in = append(r.in, p)
			if err := objs.RegisterXSK(q, p.FD()); err != nil {
				return err
			}
			if cross {
				o, err := afxdp.Open("vb2", q, afxdp.Config{})
				if err != nil {
					return err
				}
				t.Cleanup(func() { o.Close() })
				r.out = append(r.out, o)
			}
		}
		return nil
	})
	src, dst := vbMAC, l.mac(l.a, "va")
	if cross {
		src, dst = l.mac(l.b, "vb2"), l.mac(l.a, "va2")
	}
	for q := range r.in {
		rf := &reflector{in: r.in[q], src: src, dst: dst}
		if cross {
			rf.out = r.out[q]
		}
		r.refl = append(r.refl, rf)
	}
	return r
}

func (r *rig) start() {
	for _, rf := range r.refl {
		r.peers.Add(1)
		go func() { defer r.peers.Done(); rf.run() }()
	}
	r.t.Cleanup(r.stop)
}

func (r *rig) stop() {
	for _, rf := range r.refl {
		rf.stop.Store(true)
	}
	r.peers.Wait()
}

// result of one integrity run.
type result struct {
	n, received, dup, corrupt, csumErrs int
	elapsed                             time.Duration
}

func (res result) loss() float64 { return float64(res.n-res.received) / float64(res.n) }

func (res result) String() string {
	return fmt.Sprintf("N=%d received=%d loss=%d (%.3f%%) dup=%d corrupt=%d udp_csum_errors=%d in %v (%.0f pps round trip)",
		res.n, res.received, res.n-res.received, 100*res.loss(), res.dup, res.corrupt, res.csumErrs,
		res.elapsed.Round(time.Millisecond), float64(res.received)/res.elapsed.Seconds())
}

// flows is the number of sender sockets: veth picks the TX queue (hence vb's
// RX queue) from a random per-socket hash, so several flows spread over both.
const flows = 8

// blast sends n sequence-numbered datagrams from ns A to addrB over several
// UDP sockets with at most window unanswered, and verifies every datagram
// that comes back.
func (r *rig) blast(n, window int) result {
	t := r.t
	var conns []*net.UDPConn
	r.do(r.a, func() error {
		for i := 0; i < flows; i++ {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: addrA.AsSlice()})
			if err != nil {
				return err
			}
			sc, err := c.SyscallConn()
			if err != nil {
				return err
			}
			sc.Control(func(fd uintptr) {
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 32<<20)
			})
			conns = append(conns, c)
		}
		return nil
	})
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	csum0 := r.udpCsumErrors()
	seen := make([]uint32, (n+31)/32)
	var received, dup, corrupt atomic.Int64
	var last atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			scratch := make([]byte, 2048)
			for {
				k, err := c.Read(buf)
				if err != nil {
					return // closed
				}
				seq, ok := checkPayload(buf[:k], scratch)
				if !ok || seq >= uint64(n) {
					corrupt.Add(1)
					continue
				}
				if atomic.OrUint32(&seen[seq/32], 1<<(seq%32))&(1<<(seq%32)) != 0 {
					dup.Add(1)
					continue
				}
				received.Add(1)
				last.Store(time.Now().UnixNano())
			}
		}()
	}

	dst := &net.UDPAddr{IP: addrB.AsSlice(), Port: 9}
	buf := make([]byte, 2048)
	start := time.Now()
	var credit int64 // unanswered packets written off as lost after a stall
	for seq := 0; seq < n; seq++ {
		for wait := time.Now(); int64(seq)-received.Load()-credit > int64(window); {
			if time.Since(wait) > 100*time.Millisecond {
				credit = int64(seq) - received.Load()
				break
			}
			time.Sleep(20 * time.Microsecond)
		}
		b := buf[:payloadLen(uint64(seq))]
		fillPayload(b, uint64(seq))
		if _, err := conns[seq%flows].WriteToUDP(b, dst); err != nil {
			t.Fatalf("send seq %d: %v", seq, err)
		}
	}
	// Drain: stop when all arrived or nothing came for 500ms.
	for prev := int64(-1); received.Load() < int64(n); {
		time.Sleep(500 * time.Millisecond)
		cur := received.Load()
		if cur == prev {
			break
		}
		prev = cur
	}
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	end := time.Unix(0, last.Load())
	if last.Load() == 0 {
		end = time.Now()
	}
	return result{
		n: n, received: int(received.Load()), dup: int(dup.Load()), corrupt: int(corrupt.Load()),
		csumErrs: r.udpCsumErrors() - csum0, elapsed: end.Sub(start),
	}
}

// udpCsumErrors reads Udp InCsumErrors in ns A: a corrupted datagram the
// kernel dropped would otherwise look like loss.
func (r *rig) udpCsumErrors() int {
	out := r.run("ip", "netns", "exec", r.a, "cat", "/proc/net/snmp")
	var hdr []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if hdr == nil {
			hdr = f
			continue
		}
		for i, h := range hdr {
			if h == "InCsumErrors" && i < len(f) {
				v, _ := strconv.Atoi(f[i])
				return v
			}
		}
	}
	return 0
}

func (r *rig) check(res result) {
	t := r.t
	t.Log(res)
	for q, rf := range r.refl {
		t.Logf("queue %d: reflected %d, reflector drops %d; in: %v", q, rf.frames.Load(), rf.dropped.Load(), rf.in.Stats())
		if rf.out != nil {
			t.Logf("queue %d out: %v", q, rf.out.Stats())
		}
		if rf.err != nil {
			t.Errorf("queue %d reflector: %v", q, rf.err)
		}
	}
	st, err := r.objs.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("xdp_gw: %+v", st)
	if res.dup != 0 || res.corrupt != 0 || res.csumErrs != 0 {
		t.Errorf("integrity: dup=%d corrupt=%d udp_csum_errors=%d, want 0", res.dup, res.corrupt, res.csumErrs)
	}
	if res.loss() > 0.05 {
		t.Errorf("loss %.2f%% > 5%%", 100*res.loss())
	}
}

// TestIntegrity reflects N packets in place (RX frame -> edit -> TX on the
// same socket) and checks every returned byte.
func TestIntegrity(t *testing.T) {
	r := newRig(t, false)
	r.start()
	r.check(r.blast(packets(t), *window))
}

// TestIntegrityCrossPort receives on vb and transmits copies on vb2
// (Alloc + copy + Transmit on another port, as routing between the underlay
// and external interfaces will).
func TestIntegrityCrossPort(t *testing.T) {
	r := newRig(t, true)
	r.start()
	r.check(r.blast(packets(t)/2, *window))
}
