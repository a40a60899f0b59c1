package bpf

import (
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/bench/xdpload"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// 64-byte frames of the seed's established UDP flow, both directions:
// the reply is 64 bytes on the wire, the egress frame is the same inner
// 64-byte frame inside Geneve (122 bytes).
func benchFrames(b *testing.B, e *fpEnv) (eg, reply []byte, fwd, rev flow.Action) {
	x := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, Payload: make([]byte, 64-42)}
	fwd, rev = e.p.establish(seedtest.Egress(b, x), seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53})
	r := toRev(seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, Payload: make([]byte, 64-42)}, rev)
	return seedtest.Egress(b, x), seedtest.Reply(b, r), fwd, rev
}

// BenchmarkXDP measures xdp_gw's own cost per frame with BPF_PROG_RUN
// (kernel-timed, one frame per run since a hit moves the frame's head),
// reported as ns/pkt; "xdp_pass" is the same harness around an empty
// program, the floor to subtract. ns/op is the syscall, not the program.
//
//	sudo go test -run - -bench XDP -benchtime 200000x ./bpf
func BenchmarkXDP(b *testing.B) {
	for _, csum := range []bool{true, false} {
		e := newFP(b, csum)
		eg, reply, fwd, rev := benchFrames(b, e)
		e.install(b, fwd, rev)
		miss := seedtest.Egress(b, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1, DPort: 2, Payload: make([]byte, 22)})
		natMiss := seedtest.Reply(b, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1, DPort: 2, Payload: make([]byte, 22)})
		type benchCase struct {
			name  string
			prog  *ebpf.Program
			frame []byte
			want  uint32
		}
		cases := []benchCase{{"ingress-hit", e.o.Program(), reply, xdpRedirectVerdict}}
		if csum {
			// Egress does not depend on the outer checksum: run it once.
			cases = append(cases, []benchCase{
				{"egress-hit", e.o.Program(), eg, xdpRedirectVerdict},
				{"geneve-miss-steer", e.o.Program(), miss, xdpPass},
				{"nat-miss-steer", e.o.Program(), natMiss, xdpPass},
				{"not-ours-pass", e.o.Program(), arpFrame(b), xdpPass},
				{"xdp_pass", e.o.PassProgram(), eg, xdpPass},
			}...)
		}
		for _, c := range cases {
			name := c.name
			if c.name == "ingress-hit" {
				name += map[bool]string{true: "-csum", false: "-nocsum"}[csum]
			}
			b.Run(name, func(b *testing.B) {
				var total time.Duration
				for b.Loop() {
					ret, d, err := c.prog.Benchmark(c.frame, 1, nil)
					if err != nil || ret != c.want {
						b.Fatalf("verdict %d, %v", ret, err)
					}
					total += d
				}
				b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
			})
		}
	}
}

// BenchmarkXDPLive forwards with BPF_F_TEST_XDP_LIVE_FRAMES through veths
// in a lab namespace, redirect and transmit included, and reports
// ns/pkt and Mpps of wall time. Live pages keep the program's rewrites,
// so the flows here rewrite to themselves (no NAT change, no TTL
// decrement; the same instructions run); the BPF_PROG_RUN above uses the
// real SNAT flow.
//
//	sudo go test -run - -bench XDPLive -benchtime 2000000x ./bpf
func BenchmarkXDPLive(b *testing.B) {
	needRoot(b)
	if err := xdpload.LiveFrames(); err != nil {
		b.Skipf("SKIPPED: %v", err)
	}
	le := newLive(b)
	eg, reply, fwd, rev := benchFrames(b, le.fpEnv)
	for _, a := range []*flow.Action{&fwd, &rev} {
		// Rewrite to itself: NAT to the key, keep the inner dst MAC, no hop.
		a.NATSrc, a.NATDst, a.NATSrcPort, a.NATDstPort = a.Key.Src, a.Key.Dst, a.Key.SrcPort, a.Key.DstPort
		a.TTLDec = 0
		if a.Decap {
			a.EthDst = a.Key.InnerDst
		}
		k, v, err := encodeFlow(a)
		if err != nil {
			b.Fatal(err)
		}
		v.Flags |= flagNAT // run the NAT writes anyway
		if err := le.o.objs.XgwFlows.Put(&k, &v); err != nil {
			b.Fatal(err)
		}
		if err := le.o.FastPath().setUsed(1); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		frame []byte
		stat  func(*FastPathStats) *Counter
	}{
		{"egress-hit", eg, func(s *FastPathStats) *Counter { return &s.HitEgress }},
		{"ingress-hit-csum", reply, func(s *FastPathStats) *Counter { return &s.HitIngress }},
	} {
		b.Run(c.name, func(b *testing.B) {
			before := le.stats(b).FastPath
			var d time.Duration
			inNS(b, le.ns, func() error {
				start := time.Now()
				_, err := le.o.Program().Run(&ebpf.RunOptions{Data: c.frame, Repeat: uint32(b.N), Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES})
				d = time.Since(start)
				return err
			})
			after := le.stats(b).FastPath
			if hits := c.stat(&after).Packets - c.stat(&before).Packets; hits != uint64(b.N) {
				b.Fatalf("%d hits of %d runs: %+v", hits, b.N, after)
			}
			b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "ns/pkt")
			b.ReportMetric(float64(b.N)/d.Seconds()/1e6, "Mpps")
		})
	}
}

// BenchmarkXDPChecks prices the router checks of include/validate.h on
// an egress hit (the direction that pays for all four), with the outer
// UDP checksum present (OVN's default), for a 64-byte and a 1500-byte
// inner frame. Three programs: "all" is production, "no-outer-csum" skips
// the whole-datagram sum, "none" skips every check (the fast path before
// them). Each iteration runs the three in turn, so that they share the
// machine's state and the ratios are tight even on a busy host; each is
// reported as <variant>-ns/pkt, and all/none and nocsum/none as ratios.
//
//	sudo flock /tmp/xgw-heavy.lock go test -run - -bench XDPChecks -count 6 ./bpf
func BenchmarkXDPChecks(b *testing.B) {
	variants := []struct {
		name string
		skip uint32
	}{{"all", 0}, {"nocsum", checkOuterCsum}, {"none", checkIPCsum | checkMartian | checkOutport | checkOuterCsum}}
	for _, size := range []int{64, 1500} {
		x := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, Payload: make([]byte, size-42)}
		progs := make([]*ebpf.Program, len(variants))
		var frame []byte
		for i, v := range variants {
			e := newFPSkip(b, v.skip)
			fwd, rev := e.p.establish(seedtest.Egress(b, x), seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53})
			e.install(b, fwd, rev)
			progs[i], frame = e.o.Program(), seedtest.Egress(b, x)
		}
		b.Run(fmt.Sprintf("egress-hit-%dB", size), func(b *testing.B) {
			total := make([]time.Duration, len(variants))
			for b.Loop() {
				for i, p := range progs {
					ret, d, err := p.Benchmark(frame, 1, nil)
					if err != nil || ret != xdpRedirectVerdict {
						b.Fatalf("%s: verdict %d, %v", variants[i].name, ret, err)
					}
					total[i] += d
				}
			}
			for i, v := range variants {
				b.ReportMetric(float64(total[i].Nanoseconds())/float64(b.N), v.name+"-ns/pkt")
			}
			b.ReportMetric(float64(total[0])/float64(total[2]), "all/none")
			b.ReportMetric(float64(total[1])/float64(total[2]), "nocsum/none")
		})
	}
}
