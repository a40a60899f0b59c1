package bpf

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// examples/host-snat.yaml: the router's own external address (SNAT,
// shared with the host), vm2 and its floating IP.
var (
	hostSNATConfig = seedtest.Example("host-snat.yaml")
	hsHost         = net.IP{172, 31, 5, 230}
	hsVM2          = net.IP{10, 199, 100, 20}
	hsFloating     = net.IP{172, 31, 5, 240}
	hsNode02       = net.IP{172, 31, 1, 22}
)

// newFPFor is newFP over the configuration at path, its NAT addresses
// steered as the gateway steers them (a host-shared one with NATHost and
// its SNAT range).
func newFPFor(t testing.TB, path string, geneveChecksum bool) *fpEnv {
	t.Helper()
	needRoot(t)
	o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	topo := seedtest.Topology(t, path)
	for _, ip := range topo.NATIPs() {
		lo, hi, host := topo.HostPortRange(ip)
		flags := NATFlags(0)
		if host {
			flags = NATHost
		}
		if err := o.SetNATAddr(ip.Addr(), flags); err != nil {
			t.Fatal(err)
		}
		if host {
			if err := o.SetHostPorts(ip.Addr(), lo, hi); err != nil {
				t.Fatal(err)
			}
		}
	}
	fp := o.FastPath()
	for _, port := range []flow.Port{flow.Underlay, flow.External} {
		if err := fp.SetPort(port, 1); err != nil {
			t.Fatal(err)
		}
	}
	var vteps []packet.IP4
	for _, ch := range topo.Chassis {
		vteps = append(vteps, ch.IP)
	}
	if err := fp.SetVTEPs(vteps); err != nil {
		t.Fatal(err)
	}
	return &fpEnv{o: o, fp: fp, p: newPipeFor(t, path, geneveChecksum)}
}

// plan plans the pipeline's first candidate and installs both directions.
func (e *fpEnv) plan(t testing.TB) (fwd, rev flow.Action) {
	t.Helper()
	if len(e.p.sink.got) == 0 {
		t.Fatal("the pipeline reported no offload candidate")
	}
	fwd, rev, err := e.p.pl.PlanFlow(e.p.sink.got[0])
	if err != nil {
		t.Fatal(err)
	}
	e.install(t, fwd, rev)
	return fwd, rev
}

// TestFastPathHostSNAT: a connection SNATed to the router's own address
// (shared with the host) is offloaded; the fast path forwards both of its
// directions byte for byte as the pipeline does, while the host's own
// traffic to that address (SSH) passes to the kernel (pass-host) without
// touching the fast path.
func TestFastPathHostSNAT(t *testing.T) {
	for _, c := range flowCases() {
		t.Run(c.name, func(t *testing.T) {
			e := newFPFor(t, hostSNATConfig, true)
			out := e.p.mustTX(flow.Underlay, flow.External, seedtest.Egress(t, c.eg))
			e.p.mustTX(flow.External, flow.Underlay, seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, hsHost, toNAT(c.reply, out)))
			fwd, rev := e.plan(t)
			if fwd.NATSrc != packet.IP4(hsHost) {
				t.Fatalf("not SNATed to the host's address: %+v", fwd)
			}
			before := e.stats(t)
			e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, c.eg2))
			got := e.wantSame(t, flow.External, flow.Underlay,
				seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, hsHost, toRev(c.rply2, rev)))
			seedtest.VerifyOuterUDP(t, got)
			ssh := seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, hsHost,
				seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 50000, DPort: 22, SYN: true})
			if v := run(t, e.o.Program(), ssh); v != xdpPass {
				t.Fatalf("SSH to the host's address: verdict %d", v)
			}
			after := e.stats(t)
			if after.FastPath.HitEgress.Packets-before.FastPath.HitEgress.Packets != 1 ||
				after.FastPath.HitIngress.Packets-before.FastPath.HitIngress.Packets != 1 ||
				after.PassHost.Packets-before.PassHost.Packets != 1 ||
				after.FastPath.Miss.Packets != before.FastPath.Miss.Packets {
				t.Fatalf("counters %+v -> %+v", before, after)
			}
		})
	}
}

// TestFastPathHairpin: vm1 -> vm2's floating IP, offloaded: both
// directions arrive and leave as Geneve (decap, DNAT+SNAT, two router
// hops, encap to the other chassis) and the fast path does exactly what
// the pipeline does.
func TestFastPathHairpin(t *testing.T) {
	for _, csum := range []bool{true, false} {
		for _, c := range flowCases() {
			t.Run(fmt.Sprintf("%s/csum=%v", c.name, csum), func(t *testing.T) {
				e := newFPFor(t, hostSNATConfig, csum)
				from := func(ch, src, dst net.IP, x seedtest.L4) []byte {
					return seedtest.Geneve(t, ch, seedtest.VTEP, 1, 1, 2,
						seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, src, dst, x))
				}
				out := e.p.mustTX(flow.Underlay, flow.Underlay, from(seedtest.Chassis, seedtest.VM, hsFloating, c.eg))
				e.p.mustTX(flow.Underlay, flow.Underlay, from(hsNode02, hsVM2, hsHost, toNAT(c.reply, out[58:])))
				fwd, rev := e.plan(t)
				if !fwd.Decap || !fwd.Encap || !rev.Decap || !rev.Encap {
					t.Fatalf("hairpin actions fwd %+v rev %+v", fwd, rev)
				}
				before := e.stats(t).FastPath
				e.wantSame(t, flow.Underlay, flow.Underlay, from(seedtest.Chassis, seedtest.VM, hsFloating, c.eg2))
				got := e.wantSame(t, flow.Underlay, flow.Underlay, from(hsNode02, hsVM2, hsHost, toRev(c.rply2, rev)))
				if csum {
					seedtest.VerifyOuterUDP(t, got)
				}
				after := e.stats(t).FastPath
				if after.HitEgress.Packets-before.HitEgress.Packets != 2 {
					t.Fatalf("hits %+v -> %+v", before, after)
				}
			})
		}
	}
}
