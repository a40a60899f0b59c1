package bpf

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// The dual-stack topology of datapath's IPv6 tests
// (datapath/testdata/dual-stack-v4.yaml): vm1 NAT66-ed, vm2 routed.
var (
	ds6VM1     = packet.MustIP6("fd00:199:100::10")
	ds6VM2     = packet.MustIP6("2001:db8:200::20")
	ds6SNAT    = packet.MustIP6("2001:db8:5::100")
	ds6Server  = packet.MustIP6("2001:db8:31::6:24")
	ds6NextHop = packet.MustIP6("2001:db8:5::1")
)

// candSink6 keeps the pipeline's candidates of both families.
type candSink6 struct {
	candSink
	got6 []flow.Candidate6
}

func (s *candSink6) Candidates6(c []flow.Candidate6) { s.got6 = append(s.got6, c...) }
func (s *candSink6) Withdraw6(conntrack.Handle)      {}

type dualNeigh struct {
	route.StaticNeighbors
	route.StaticNeighbors6
}

// TestFastPath6PlannedEqualsPipeline plans IPv6 connections with
// PlanFlow6 from what the pipeline did (NAT66 and routed), installs both
// directions in xdp_gw, and checks that the fast path forwards the
// connection's next packets to the bytes the pipeline makes of them.
func TestFastPath6PlannedEqualsPipeline(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name string
		vm   packet.IP6
		nat  bool
	}{{"nat66", ds6VM1, true}, {"routed", ds6VM2, false}} {
		t.Run(tc.name, func(t *testing.T) {
			topo := seedtest.Topology(t, filepath.Join("..", "datapath", "testdata", "dual-stack-v4.yaml"))
			ct, err := conntrack.NewTable(conntrack.Config{})
			if err != nil {
				t.Fatal(err)
			}
			sink := &candSink6{}
			now := int64(1_000_000_000)
			n4 := seedtest.Neighbors()
			n4[packet.MustIP4("172.31.1.22")] = packet.MAC(seedtest.MACHV) // node02, vm2's chassis
			n := dualNeigh{n4, route.StaticNeighbors6{ds6NextHop: packet.MAC(seedtest.MACNextHop)}}
			pl, err := datapath.New(datapath.Config{Topology: topo, Conntrack: ct, Neighbors: n,
				UnderlayMAC: packet.MAC(seedtest.MACGWUnder), Clock: func() int64 { return now }, Offload: sink})
			if err != nil {
				t.Fatal(err)
			}
			p := &pipe{t: t, pl: pl, w: pl.NewWorker(), sink: &sink.candSink, now: now}

			o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP.To4()))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { o.Close() })
			if tc.nat {
				if err := o.AddNATAddr(ds6SNAT.Addr()); err != nil {
					t.Fatal(err)
				}
			} else if err := o.SetRoutedPrefix6(netip.PrefixFrom(ds6VM2.Addr(), 64).Masked()); err != nil {
				t.Fatal(err) // the routed prefix is steered (xgw_routed6)
			}
			fp := o.FastPath()
			for _, port := range []flow.Port{flow.Underlay, flow.External} {
				if err := fp.SetPort(port, 1); err != nil {
					t.Fatal(err)
				}
			}
			if err := fp.SetVTEPs([]packet.IP4{packet.IP4(seedtest.Chassis.To4())}); err != nil {
				t.Fatal(err)
			}

			egress := func() []byte {
				inner := inner6{src: macDR, dst: macJoin, sip: tc.vm, dip: ds6Server, hop: 64, proto: packet.ProtoUDP,
					sport: 40000, dport: 53, payload: 40}.build(t)
				return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, inner)
			}
			out := p.mustTX(flow.Underlay, flow.External, egress())
			var op packet.Parsed
			if op.DecodeDual(out) != packet.OK {
				t.Fatal("egress output does not parse")
			}
			reply := func() []byte {
				return inner6{src: packet.MAC(seedtest.MACNextHop), dst: packet.MAC(seedtest.MACGRExt), sip: ds6Server, dip: op.Src6,
					hop: 60, proto: packet.ProtoUDP, sport: 53, dport: op.SrcPort, payload: 60}.build(t)
			}
			p.mustTX(flow.External, flow.Underlay, reply())
			if len(sink.got6) == 0 || len(sink.got) != 0 {
				t.Fatalf("candidates: %d IPv6, %d IPv4; want IPv6 only", len(sink.got6), len(sink.got))
			}
			fwd, rev, err := pl.PlanFlow6(sink.got6[0])
			if err != nil {
				t.Fatal(err)
			}
			if fwd.Translates() != tc.nat {
				t.Fatalf("fwd %+v: translates %v, want %v", fwd, fwd.Translates(), tc.nat)
			}
			for _, a := range []*flow.Action6{&rev, &fwd} {
				if err := fp.Install6(a); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range []struct {
				name    string
				in, out flow.Port
				frame   func() []byte
			}{{"egress", flow.Underlay, flow.External, egress}, {"reply", flow.External, flow.Underlay, reply}} {
				in := d.frame()
				want := p.mustTX(d.in, d.out, in)
				ret, got := runFP(t, o.Program(), d.frame())
				if ret != xdpRedirectVerdict {
					s, _ := o.Stats()
					t.Fatalf("%s: verdict %d, want XDP_REDIRECT; fast path %+v", d.name, ret, s.FastPath)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: XDP output differs from the pipeline\n xdp %x\npipe %x", d.name, got, want)
				}
			}
			f, err := fp.Lookup6(fwd.Key)
			if err != nil || f.Packets != 1 {
				t.Fatalf("forward entry counters %+v %v, want 1 packet", f, err)
			}
		})
	}
}
