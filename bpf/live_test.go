package bpf

import (
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/datapath"
)

// liveEnv is xdp_gw with its tx_ports on real veths in a lab namespace:
// u0 (underlay, peer u1) and e0 (external, peer e1), peers running
// xdp_pass so they accept redirected frames, taps on the peers.
type liveEnv struct {
	*fpEnv
	ns     string
	u1, e1 *tap
}

func newLive(t testing.TB) *liveEnv {
	needRoot(t)
	e := newFP(t, true)
	ns := labNS(t, [2]string{"u0", "u1"}, [2]string{"e0", "e1"})
	le := &liveEnv{fpEnv: e, ns: ns}
	inNS(t, ns, func() error {
		for _, p := range []struct {
			port datapath.PortID
			dev  string
		}{{datapath.PortUnderlay, "u0"}, {datapath.PortExternal, "e0"}} {
			ifi, err := ifindexByName(p.dev)
			if err != nil {
				return err
			}
			if err := e.fp.SetPort(p.port, ifi); err != nil {
				return err
			}
		}
		for _, peer := range []string{"u1", "e1"} {
			ifi, err := ifindexByName(peer)
			if err != nil {
				return err
			}
			l, err := e.o.AttachPass(ifi, ModeNative)
			if err != nil {
				return err
			}
			t.Cleanup(func() { l.Close() })
		}
		return nil
	})
	le.u1, le.e1 = openTap(t, ns, "u1"), openTap(t, ns, "e1")
	return le
}

// runLive runs frame once with BPF_F_TEST_XDP_LIVE_FRAMES inside the lab
// namespace: a redirect really transmits.
func (le *liveEnv) runLive(t *testing.T, frame []byte, repeat int) {
	t.Helper()
	inNS(t, le.ns, func() error {
		_, err := le.o.Program().Run(&ebpf.RunOptions{Data: frame, Repeat: uint32(repeat), Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES})
		return err
	})
}

// TestLiveRedirect proves that hits leave through the devmap's interface
// for their direction, as the exact bytes the pipeline would send, and
// that an oversized encapsulation punts (TooBig) instead of being dropped
// by the device.
func TestLiveRedirect(t *testing.T) {
	le := newLive(t)
	eg := l4{proto: layers.IPProtocolUDP, sport: 5555, dport: 53, payload: []byte("live")}
	fwd, rev := le.p.establish(seedEgress(t, eg), l4{proto: layers.IPProtocolUDP, sport: 53})
	le.install(t, fwd, rev)

	in := seedEgress(t, eg)
	want := le.p.mustTX(datapath.PortUnderlay, datapath.PortExternal, in)
	le.runLive(t, in, 1)
	if !le.e1.expect(want) {
		t.Fatalf("egress hit did not arrive on e1 as the pipeline's frame; fast path %+v", le.stats(t).FastPath)
	}

	reply := seedReply(t, toRev(l4{proto: layers.IPProtocolUDP, sport: 53, payload: []byte("back")}, rev))
	want = le.p.mustTX(datapath.PortExternal, datapath.PortUnderlay, reply)
	le.runLive(t, reply, 1)
	if !le.u1.expect(want) {
		t.Fatalf("ingress hit did not arrive on u1 as the pipeline's frame; fast path %+v", le.stats(t).FastPath)
	}
	if n := le.e1.count(100 * time.Millisecond); n != 0 {
		t.Fatalf("%d stray frames on e1", n)
	}

	// MTU: 1400 bytes of IPv4 + 58 do not fit a 1400-byte underlay MTU.
	if out, err := exec.Command("ip", "-n", le.ns, "link", "set", "u0", "mtu", "1400").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	big := seedReply(t, toRev(l4{proto: layers.IPProtocolUDP, sport: 53, payload: make([]byte, 1400-28)}, rev))
	before := le.stats(t).FastPath
	le.runLive(t, big, 1)
	after := le.stats(t).FastPath
	if after.Punts[PuntTooBig].Packets-before.Punts[PuntTooBig].Packets != 1 {
		t.Fatalf("oversized encap not punted as too-big: %+v -> %+v", before, after)
	}
	small := seedReply(t, toRev(l4{proto: layers.IPProtocolUDP, sport: 53, payload: make([]byte, 1400-28-58)}, rev))
	want = le.p.mustTX(datapath.PortExternal, datapath.PortUnderlay, small)
	le.runLive(t, small, 1)
	if !le.u1.expect(want) {
		t.Fatal("a frame that just fits the MTU did not arrive")
	}
}

func ifindexByName(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}
