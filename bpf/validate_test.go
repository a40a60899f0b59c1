package bpf

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// Check bits of include/validate.h (fp_skip_checks).
const (
	checkIPCsum    = 0x01
	checkMartian   = 0x02
	checkOutport   = 0x04
	checkOuterCsum = 0x08
)

// newFPSkip is newFP with some router checks turned off: the program a
// test runs to show that the check, and nothing else, catches a frame.
func newFPSkip(t testing.TB, skip uint32) *fpEnv {
	t.Helper()
	needRoot(t)
	o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP)), skipChecks: skip})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	if err := o.AddNATAddr(seedSNATAddr); err != nil {
		t.Fatal(err)
	}
	fp := o.FastPath()
	for _, port := range []flow.Port{flow.Underlay, flow.External} {
		if err := fp.SetPort(port, 1); err != nil {
			t.Fatal(err)
		}
	}
	setSeedVTEPs(t, fp)
	return &fpEnv{o: o, fp: fp, p: newPipe(t, true)}
}

// Offsets in a seed egress frame (outer eth/IPv4/UDP, Geneve with the OVN
// option, inner eth).
const (
	egOVNOpt  = 14 + 20 + 8 + 8 // the OVN option's header
	egInnerIP = egOVNOpt + 8 + 14
)

// TestFastPathRouterChecks: for an offloaded flow, every frame the
// software pipeline drops under a router check (issue 10: bad inner IPv4
// checksum, wrong outer UDP checksum, a Geneve outport that is not the
// join port or no OVN option, martian source or destination) is punted
// by the fast path under the drop's own name, unchanged, and software
// drops it with that reason. The same frame through a program with that
// one check off is forwarded: the check is what stops it.
func TestFastPathRouterChecks(t *testing.T) {
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, Payload: []byte("0123456789abcdef")}
	rp := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5555}

	type check struct {
		name string
		in   flow.Port
		why  PuntReason
		drop datapath.Drop
		skip uint32
		// frame makes the bad frame from the flow's next good one;
		// martian cases also install a flow with the martian key (the
		// pipeline never establishes one) so that the check, not a miss,
		// is what stops it.
		frame   func(t *testing.T, fwd, rev flow.Action) []byte
		install func(e *fpEnv, fwd, rev flow.Action)
	}
	martianFlow := func(e *fpEnv, a flow.Action, src, dst net.IP) {
		if src != nil {
			a.Key.Src = packet.IP4(src.To4())
		}
		if dst != nil {
			a.Key.Dst = packet.IP4(dst.To4())
		}
		e.install(t, a)
	}
	egressFrom := func(t *testing.T, src, dst net.IP) []byte {
		return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2,
			seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, src, dst, eg))
	}
	cases := []check{
		{name: "inner ip checksum egress", in: flow.Underlay, why: PuntIPChecksum, drop: datapath.DropIPChecksum, skip: checkIPCsum,
			frame: func(t *testing.T, _, _ flow.Action) []byte {
				f := seedtest.Egress(t, eg)
				f[egInnerIP+10] ^= 0x5a
				seedtest.FixOuterUDP(f)
				return f
			}},
		{name: "ip checksum ingress", in: flow.External, why: PuntIPChecksum, drop: datapath.DropIPChecksum, skip: checkIPCsum,
			frame: func(t *testing.T, _, rev flow.Action) []byte {
				f := seedtest.Reply(t, toRev(rp, rev))
				f[14+10] ^= 0x5a
				return f
			}},
		{name: "outer udp checksum", in: flow.Underlay, why: PuntGeneveChecksum, drop: datapath.DropGeneveChecksum, skip: checkOuterCsum,
			frame: func(t *testing.T, _, _ flow.Action) []byte {
				f := seedtest.Egress(t, eg)
				f[len(f)-1] ^= 0x01 // payload only: the inner headers stay valid
				return f
			}},
		{name: "foreign outport", in: flow.Underlay, why: PuntGeneveOutport, drop: datapath.DropGeneveOutport, skip: checkOutport,
			frame: func(t *testing.T, _, _ flow.Action) []byte {
				return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 3,
					seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, eg))
			}},
		{name: "no ovn option", in: flow.Underlay, why: PuntGeneveOutport, drop: datapath.DropGeneveOutport, skip: checkOutport,
			frame: func(t *testing.T, _, _ flow.Action) []byte {
				f := seedtest.Egress(t, eg)
				f[egOVNOpt+2] = 0x01 // type 0x01 of class 0x0102: unknown, not critical
				seedtest.FixOuterUDP(f)
				return f
			}},
		{name: "martian source 127/8", in: flow.Underlay, why: PuntMartianSource, drop: datapath.DropMartianSource, skip: checkMartian,
			install: func(e *fpEnv, fwd, _ flow.Action) { martianFlow(e, fwd, net.IP{127, 0, 0, 1}, nil) },
			frame: func(t *testing.T, _, _ flow.Action) []byte {
				return egressFrom(t, net.IP{127, 0, 0, 1}, seedtest.Server)
			}},
		{name: "martian source 0/8", in: flow.Underlay, why: PuntMartianSource, drop: datapath.DropMartianSource, skip: checkMartian,
			install: func(e *fpEnv, fwd, _ flow.Action) { martianFlow(e, fwd, net.IP{0, 1, 2, 3}, nil) },
			frame:   func(t *testing.T, _, _ flow.Action) []byte { return egressFrom(t, net.IP{0, 1, 2, 3}, seedtest.Server) }},
		{name: "martian destination multicast", in: flow.Underlay, why: PuntMartianDest, drop: datapath.DropMartianDest, skip: checkMartian,
			install: func(e *fpEnv, fwd, _ flow.Action) { martianFlow(e, fwd, nil, net.IP{224, 0, 0, 5}) },
			frame:   func(t *testing.T, _, _ flow.Action) []byte { return egressFrom(t, seedtest.VM, net.IP{224, 0, 0, 5}) }},
		{name: "martian destination broadcast", in: flow.Underlay, why: PuntMartianDest, drop: datapath.DropMartianDest, skip: checkMartian,
			install: func(e *fpEnv, fwd, _ flow.Action) { martianFlow(e, fwd, nil, net.IP{255, 255, 255, 255}) },
			frame: func(t *testing.T, _, _ flow.Action) []byte {
				return egressFrom(t, seedtest.VM, net.IP{255, 255, 255, 255})
			}},
		{name: "martian source ingress class E", in: flow.External, why: PuntMartianSource, drop: datapath.DropMartianSource, skip: checkMartian,
			install: func(e *fpEnv, _, rev flow.Action) { martianFlow(e, rev, net.IP{240, 0, 0, 1}, nil) },
			frame: func(t *testing.T, _, rev flow.Action) []byte {
				return seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, net.IP{240, 0, 0, 1}, seedtest.SNAT, toRev(rp, rev))
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, skip := range []bool{false, true} {
				var e *fpEnv
				if skip {
					e = newFPSkip(t, c.skip)
				} else {
					e = newFP(t, true)
				}
				fwd, rev := e.p.establish(seedtest.Egress(t, eg), rp)
				if fwd.Outport != 2 {
					t.Fatalf("planned egress flow checks outport %d, want the join port's key 2", fwd.Outport)
				}
				e.install(t, fwd, rev)
				if c.install != nil {
					c.install(e, fwd, rev)
				}
				frame := c.frame(t, fwd, rev)
				if !skip {
					wantPunt(t, e, frame, c.why)
					if c.why.String() != c.drop.String() {
						t.Fatalf("punt %q and drop %q should share the name", c.why, c.drop)
					}
					// What software does with the punted frame.
					if r := e.p.run(c.in, frame); r.Verdict != datapath.VerdictDrop || r.Reason != c.drop {
						t.Fatalf("pipeline: verdict %v reason %v, want drop %v", r.Verdict, r.Reason, c.drop)
					}
					// The flow itself still goes through.
					if c.in == flow.Underlay {
						e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, eg))
					} else {
						e.wantSame(t, flow.External, flow.Underlay, seedtest.Reply(t, toRev(rp, rev)))
					}
					continue
				}
				if ret, _ := runFP(t, e.o.Program(), frame); ret != xdpRedirectVerdict {
					t.Fatalf("with the check off the frame is not forwarded (verdict %d): the test does not isolate the check", ret)
				}
			}
		})
	}
}

// TestFastPathOuterChecksumLengths: the outer UDP checksum check sums
// datagrams of every length class right (512-byte blocks, each smaller
// power of two, 0-3 trailing bytes): a valid frame is forwarded as the
// pipeline forwards it, and one with its last byte flipped is punted.
func TestFastPathOuterChecksumLengths(t *testing.T) {
	e := newFP(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 6000, DPort: 53}
	fwd, rev := e.p.establish(seedtest.Egress(t, eg), seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 6000})
	e.install(t, fwd, rev)
	for n := range 1400 {
		if n > 40 && n%37 != 0 && n != 1399 && n != 1024-84 && n != 512-84 {
			continue
		}
		x := eg
		x.Payload = make([]byte, n)
		for i := range x.Payload {
			x.Payload[i] = byte(i*13 + n)
		}
		good := seedtest.Egress(t, x)
		e.wantSame(t, flow.Underlay, flow.External, good)
		bad := bytes.Clone(good)
		bad[len(bad)-1] ^= 0x80
		wantPunt(t, e, bad, PuntGeneveChecksum)
	}
}

// TestFastPathConfiguredMTU: an MTU set in xgw's config below the
// interface's (OVN's gateway_mtu) holds on the fast path too: a reply
// longer than the underlay takes after encapsulation is punted as
// too-big, and software answers it with fragmentation needed naming
// the MTU less Geneve's 58 bytes; shorter replies are still forwarded.
// Before, the fast path checked only the kernel's MTU and forwarded it.
func TestFastPathConfiguredMTU(t *testing.T) {
	const underlayMTU = 600
	e := newFP(t, true)
	e.p = newPipeWith(t, true, func(c *datapath.Config) { c.UnderlayMTU = underlayMTU })
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 7000, DPort: 53}
	rp := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 7000}
	fwd, rev := e.p.establish(seedtest.Egress(t, eg), rp)
	if rev.MaxLen != underlayMTU-58 {
		t.Fatalf("ingress flow MaxLen %d, want %d", rev.MaxLen, underlayMTU-58)
	}
	e.install(t, fwd, rev)
	small, big := toRev(rp, rev), toRev(rp, rev)
	small.Payload = make([]byte, underlayMTU-58-28)
	big.Payload = make([]byte, underlayMTU-58-28+1)
	e.wantSame(t, flow.External, flow.Underlay, seedtest.Reply(t, small))
	frame := seedtest.Reply(t, big)
	wantPunt(t, e, frame, PuntTooBig)
	r := e.p.run(flow.External, frame)
	if r.Verdict != datapath.VerdictTX || r.OutPort != flow.External {
		t.Fatalf("pipeline: verdict %v out %v reason %v, want fragmentation needed out external", r.Verdict, r.OutPort, r.Reason)
	}
	icmp := r.Frame()[14+20:]
	if icmp[0] != 3 || icmp[1] != 4 || binary.BigEndian.Uint16(icmp[6:]) != underlayMTU-58 {
		t.Fatalf("pipeline answered type %d code %d mtu %d, want 3/4 mtu %d", icmp[0], icmp[1], binary.BigEndian.Uint16(icmp[6:]), underlayMTU-58)
	}
}
