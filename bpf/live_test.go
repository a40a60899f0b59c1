package bpf

import (
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// liveEnv is xdp_gw attached to real veths in a lab namespace, with its
// tx_ports on them: u0 (underlay, peer u1) and e0 (external, peer e1),
// peers running xdp_pass so they accept redirected frames, taps on the
// peers to send frames in and see what comes out.
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
			port flow.Port
			dev  string
		}{{flow.Underlay, "u0"}, {flow.External, "e0"}} {
			ifi, err := ifindexByName(p.dev)
			if err != nil {
				return err
			}
			if err := e.fp.SetPort(p.port, ifi); err != nil {
				return err
			}
			l, err := e.o.Attach(ifi, ModeNative)
			if err != nil {
				return err
			}
			t.Cleanup(func() { l.Close() })
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

// inject sends frame out of the peer tap, so that it arrives on the
// veth that runs xdp_gw, as a real frame from a neighbour would.
func (le *liveEnv) inject(t *testing.T, from *tap, frame []byte) {
	t.Helper()
	if err := from.send(frame); err != nil {
		t.Fatal(err)
	}
}

// TestLiveRedirect proves, on frames that arrive on real veths, that hits
// leave through the interface of their direction as the exact bytes the
// pipeline would send, and that an oversized encapsulation punts (TooBig)
// instead of being dropped by the device.
func TestLiveRedirect(t *testing.T) {
	le := newLive(t)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, Payload: []byte("live")}
	fwd, rev := le.p.establish(seedtest.Egress(t, eg), seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53})
	le.install(t, fwd, rev)

	in := seedtest.Egress(t, eg)
	want := le.p.mustTX(flow.Underlay, flow.External, in)
	le.inject(t, le.u1, in)
	if !le.e1.expect(want) {
		t.Fatalf("egress hit did not arrive on e1 as the pipeline's frame; fast path %+v", le.stats(t).FastPath)
	}

	reply := seedtest.Reply(t, toRev(seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, Payload: []byte("back")}, rev))
	want = le.p.mustTX(flow.External, flow.Underlay, reply)
	le.inject(t, le.e1, reply)
	if !le.u1.expect(want) {
		t.Fatalf("ingress hit did not arrive on u1 as the pipeline's frame; fast path %+v", le.stats(t).FastPath)
	}
	if n := le.e1.count(100 * time.Millisecond); n != 0 {
		t.Fatalf("%d stray frames on e1", n)
	}

	// The flow's packet from an underlay address that is no chassis:
	// not forwarded, punted to the steering (the pipeline drops it).
	spoofed := seedtest.Geneve(t, spoofVTEP, seedtest.VTEP, 1, 1, 2,
		seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, eg))
	before0 := le.stats(t).FastPath
	le.inject(t, le.u1, spoofed)
	if n := le.e1.count(100 * time.Millisecond); n != 0 {
		t.Fatalf("spoofed Geneve forwarded: %d frames on e1", n)
	}
	after0 := le.stats(t).FastPath
	if after0.Punts[PuntUnknownVTEP].Packets-before0.Punts[PuntUnknownVTEP].Packets != 1 || after0.HitEgress != before0.HitEgress {
		t.Fatalf("spoofed Geneve not punted as geneve-unknown-source: %+v -> %+v", before0, after0)
	}

	// MTU: 1400 bytes of IPv4 + 58 do not fit a 1400-byte underlay MTU.
	if out, err := exec.Command("ip", "-n", le.ns, "link", "set", "u0", "mtu", "1400").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	big := seedtest.Reply(t, toRev(seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, Payload: make([]byte, 1400-28)}, rev))
	before := le.stats(t).FastPath
	le.inject(t, le.e1, big)
	after := le.stats(t).FastPath
	if after.Punts[PuntTooBig].Packets-before.Punts[PuntTooBig].Packets != 1 {
		t.Fatalf("oversized encap not punted as too-big: %+v -> %+v", before, after)
	}
	small := seedtest.Reply(t, toRev(seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, Payload: make([]byte, 1400-28-58)}, rev))
	want = le.p.mustTX(flow.External, flow.Underlay, small)
	le.inject(t, le.e1, small)
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
