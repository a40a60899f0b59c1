package xdpload_test

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/bench/frames"
	"github.com/xgw-dev/xgw/bench/lab"
	"github.com/xgw-dev/xgw/bench/xdpload"
	"github.com/xgw-dev/xgw/packet"
)

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: loading XDP programs needs root")
	}
}

var inner = frames.Inner{
	SrcMAC: packet.MustMAC("ae:03:03:17:eb:df"), DstMAC: packet.MustMAC("ae:cd:cd:04:d7:d4"),
	Src: packet.MustIP4("10.199.100.10"), Dst: packet.MustIP4("198.51.100.2"),
	SrcPort: 10000, DstPort: 9000, TTL: 63,
}

var outer = frames.Outer{
	SrcMAC: packet.MustMAC("02:00:c0:00:02:02"), DstMAC: packet.MustMAC("02:00:c0:00:02:01"),
	Src: packet.MustIP4("192.0.2.2"), Dst: packet.MustIP4("192.0.2.1"), VNI: 1, InPort: 1, Out: 2,
}

func run(t *testing.T, p *ebpf.Program, in []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(in)+256)
	ret, err := p.Run(&ebpf.RunOptions{Data: in, DataOut: out})
	if err != nil {
		t.Fatal(err)
	}
	return ret, out[:len(in)]
}

// TestGeneratorRewritesFlows runs the generator (not live) and checks that
// consecutive runs walk the flows and stamp a time.
func TestGeneratorRewritesFlows(t *testing.T) {
	needRoot(t)
	f, _ := frames.Geneve(outer, inner, 64)
	spec := frames.Layout(true, 3, 20000)
	g, err := xdpload.NewGenerator(spec, f)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	seen := map[uint16]bool{}
	for i := 0; i < 6; i++ {
		// A recycled live-frames page holds what the receiver wrote into
		// it: the generator must put the template's headers back.
		in := append([]byte(nil), f...)
		for j := range spec.PayloadOff {
			in[j] = 0xee
		}
		ret, out := run(t, g.Prog(), in)
		if ret != 3 {
			t.Fatalf("verdict %d, want XDP_TX", ret)
		}
		sp := binary.BigEndian.Uint16(out[spec.SportOff:])
		seen[sp] = true
		if sp < 20000 || sp > 20002 {
			t.Errorf("sport %d", sp)
		}
		if binary.BigEndian.Uint16(out[spec.OuterSportOff:]) < 49152 {
			t.Errorf("outer sport")
		}
		for j := range spec.PayloadOff {
			if j != spec.SportOff && j != spec.SportOff+1 && j != spec.OuterSportOff && j != spec.OuterSportOff+1 && out[j] != f[j] {
				t.Fatalf("byte %d of the headers is %#x, template %#x", j, out[j], f[j])
			}
		}
		if binary.LittleEndian.Uint64(out[spec.PayloadOff+xdpload.TimestampOff:]) == 0 {
			t.Error("no timestamp")
		}
	}
	if len(seen) != 3 {
		t.Errorf("flows seen %v, want 3", seen)
	}
	if _, err := xdpload.NewGenerator(spec, f[:50]); err == nil {
		t.Error("short template accepted")
	}
}

func TestSinkCountsUDPOnly(t *testing.T) {
	needRoot(t)
	s, err := xdpload.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, _ := frames.Plain(inner, 64)
	if ret, _ := run(t, s.Prog, f); ret != 1 {
		t.Errorf("udp verdict %d, want DROP", ret)
	}
	arp := make([]byte, 60)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	if ret, _ := run(t, s.Prog, arp); ret != 2 {
		t.Errorf("arp verdict %d, want PASS", ret)
	}
	c, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	if c.Packets != 1 || c.Bytes != 64 {
		t.Errorf("count %+v", c)
	}
}

func TestReflectorSwaps(t *testing.T) {
	needRoot(t)
	r, err := xdpload.NewReflector()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, f := range [][]byte{mustPlain(t), mustGeneve(t)} {
		ret, out := run(t, r.Prog, f)
		if ret != 3 {
			t.Fatalf("verdict %d, want TX", ret)
		}
		if string(out[0:6]) != string(f[6:12]) || string(out[26:30]) != string(f[30:34]) ||
			string(out[34:36]) != string(f[36:38]) {
			t.Error("not swapped")
		}
		if packet.Checksum(out[14:34], 0) != 0 {
			t.Error("IPv4 checksum broken by the swap")
		}
	}
	other, _ := frames.Plain(inner, 64)
	other[xdpload.PlainPayloadOff] ^= 0xff
	if ret, _ := run(t, r.Prog, other); ret != 2 {
		t.Errorf("frame without magic: verdict %d, want PASS", ret)
	}
	if c, _ := r.Read(); c.Packets != 2 {
		t.Errorf("reflected %d", c.Packets)
	}
}

func TestReturnCounterHistogram(t *testing.T) {
	needRoot(t)
	rc, err := xdpload.NewReturnCounter(1000)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	f := mustGeneve(t)
	// A timestamp of 0 is "very old": lands in the overflow bucket.
	if ret, _ := run(t, rc.Prog, f); ret != 1 {
		t.Fatalf("verdict %d, want DROP", ret)
	}
	h, err := rc.Histogram()
	if err != nil {
		t.Fatal(err)
	}
	if h[xdpload.HistBuckets-1] != 1 {
		t.Errorf("overflow bucket %d", h[xdpload.HistBuckets-1])
	}
	if c, _ := rc.Read(); c.Packets != 1 {
		t.Errorf("count %+v", c)
	}
}

func TestCeilingAndPassLoad(t *testing.T) {
	needRoot(t)
	c, err := xdpload.NewCeiling(1)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	p, err := xdpload.NewPass()
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

func mustPlain(t *testing.T) []byte {
	f, err := frames.Plain(inner, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustGeneve(t *testing.T) []byte {
	f, err := frames.Geneve(outer, inner, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSendOverVeth sends paced frames with each backend the kernel allows
// out of one end of a veth pair in a fresh namespace and counts them with
// the sink on the other: every frame arrives, with the magic the sink
// looks for.
func TestSendOverVeth(t *testing.T) {
	needRoot(t)
	var r [4]byte
	rand.Read(r[:])
	ns := "xgwgen-" + hex.EncodeToString(r[:])
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	sh("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	sh("ip", "-n", ns, "link", "add", "g0", "type", "veth", "peer", "name", "g1")
	sh("ip", "-n", ns, "link", "set", "g0", "up")
	sh("ip", "-n", ns, "link", "set", "g1", "up")

	// veths looks up the pair inside ns (call it there).
	veths := func() (g0, g1 *net.Interface, err error) {
		if g0, err = net.InterfaceByName("g0"); err != nil {
			return nil, nil, err
		}
		g1, err = net.InterfaceByName("g1")
		return g0, g1, err
	}

	t.Run("afxdp-frames", func(t *testing.T) {
		// What the AF_XDP backend puts on the wire: each flow's ports, the
		// magic and a valid inner UDP checksum.
		g, f, spec := newGen(t, 4, xdpload.BackendAFXDP)
		var fd int
		err := lab.DoIn(ns, func() error {
			g0, g1, err := veths()
			if err != nil {
				return err
			}
			if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL))); err != nil {
				return err
			}
			if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: g1.Index}); err != nil {
				return err
			}
			_, err = g.Send(f, g0.Index, xdpload.Pacing{Rate: 200, Duration: 100 * time.Millisecond, CPU: -1})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		ports := map[uint16]bool{}
		buf := make([]byte, 2048)
		n := 0
		for {
			m, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				break
			}
			fr := buf[:m]
			if m != len(f) || binary.LittleEndian.Uint64(fr[spec.PayloadOff:]) != xdpload.Magic {
				continue // IPv6 noise and the like
			}
			n++
			u := packet.UDP(append([]byte(nil), fr[spec.SportOff:]...))
			ip := packet.IPv4(fr[spec.SportOff-packet.IPv4MinLen:])
			if got, want := u.Checksum(), u.ComputeChecksum(ip.Src(), ip.Dst()); got == 0 || got != want {
				t.Fatalf("frame %d: inner UDP checksum %#04x, want %#04x", n, got, want)
			}
			ports[u.SrcPort()] = true
		}
		if n < 10 || len(ports) != 4 {
			t.Fatalf("captured %d generator frames over %d source ports, want >= 10 over 4", n, len(ports))
		}
	})

	backends := []xdpload.Backend{xdpload.BackendAFXDP}
	if err := xdpload.LiveFrames(); err == nil {
		backends = append(backends, xdpload.BackendLive)
	} else {
		t.Logf("live frames not tested: %v", err)
	}
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			g, f, _ := newGen(t, 7, b)
			sink, err := xdpload.NewSink()
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			var sent uint64
			err = lab.DoIn(ns, func() error {
				g0, g1, err := veths()
				if err != nil {
					return err
				}
				l, err := link.AttachXDP(link.XDPOptions{Program: sink.Prog, Interface: g1.Index})
				if err != nil {
					return err
				}
				defer l.Close()
				sent, err = g.Send(f, g0.Index, xdpload.Pacing{Rate: 20000, Duration: 500 * time.Millisecond, CPU: -1})
				time.Sleep(50 * time.Millisecond)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			c, err := sink.Read()
			if err != nil {
				t.Fatal(err)
			}
			if sent < 5000 || c.Packets != sent {
				t.Fatalf("%s: sent %d, the sink counted %d", b, sent, c.Packets)
			}
		})
	}
}

// newGen is a generator of Geneve frames over flows, sending with b; it
// is closed when the test ends.
func newGen(t *testing.T, flows int, b xdpload.Backend) (*xdpload.Generator, []byte, xdpload.GenSpec) {
	f := mustGeneve(t)
	spec := frames.Layout(true, flows, 30000)
	g, err := xdpload.NewGenerator(spec, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	g.UseBackend(b)
	return g, f, spec
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
