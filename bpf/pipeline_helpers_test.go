package bpf

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// candSink keeps the pipeline's offload candidates.
type candSink struct{ got []flow.Candidate }

func (s *candSink) Candidates(c []flow.Candidate) { s.got = append(s.got, c...) }

func (s *candSink) Withdraw(conntrack.Handle) {}

// pipe is the software pipeline over the seed: the reference the fast
// path must equal byte for byte.
type pipe struct {
	t    testing.TB
	pl   *datapath.Pipeline
	w    *datapath.Worker
	sink *candSink
	now  int64
}

func newPipe(t testing.TB, geneveChecksum bool) *pipe {
	return newPipeFor(t, seedtest.ConfigPath(), geneveChecksum)
}

// newPipeFor is newPipe over the configuration at path (the seed's
// addresses; examples/host-snat.yaml's second chassis resolves too).
func newPipeFor(t testing.TB, path string, geneveChecksum bool) *pipe {
	t.Helper()
	return newPipeAt(t, path, geneveChecksum, nil)
}

// newPipeWith is newPipe with mod applied to the pipeline's config.
func newPipeWith(t testing.TB, geneveChecksum bool, mod func(*datapath.Config)) *pipe {
	t.Helper()
	return newPipeAt(t, seedtest.ConfigPath(), geneveChecksum, mod)
}

func newPipeAt(t testing.TB, path string, geneveChecksum bool, mod func(*datapath.Config)) *pipe {
	t.Helper()
	topo := seedtest.Topology(t, path)
	topo.GeneveChecksum = geneveChecksum
	ct, err := conntrack.NewTable(conntrack.Config{})
	if err != nil {
		t.Fatal(err)
	}
	neigh := seedtest.Neighbors()
	neigh[packet.MustIP4("172.31.1.22")] = packet.MAC(seedtest.MACHV)
	p := &pipe{t: t, sink: &candSink{}, now: 1_000_000_000}
	cfg := datapath.Config{Topology: topo, Conntrack: ct, Neighbors: neigh,
		UnderlayMAC: packet.MAC(seedtest.MACGWUnder), Clock: func() int64 { return p.now }, Offload: p.sink}
	if mod != nil {
		mod(&cfg)
	}
	p.pl, err = datapath.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.w = p.pl.NewWorker()
	return p
}

// seedVTEPs are the seed topology's chassis VTEPs: what the gateway puts
// in the fast path's VTEP set (FastPath.SetVTEPs), and the only outer
// sources the pipeline takes Geneve from.
func seedVTEPs(t testing.TB) []packet.IP4 {
	t.Helper()
	var ips []packet.IP4
	for _, ch := range seedtest.Topology(t, seedtest.ConfigPath()).Chassis {
		ips = append(ips, ch.IP)
	}
	if len(ips) == 0 {
		t.Fatal("the seed has no chassis")
	}
	return ips
}

// setSeedVTEPs fills fp's VTEP set as the gateway does: without it every
// Geneve packet punts (the set fails closed).
func setSeedVTEPs(t testing.TB, fp *FastPath) {
	t.Helper()
	if err := fp.SetVTEPs(seedVTEPs(t)); err != nil {
		t.Fatal(err)
	}
}

// run processes one frame and returns the output frame and verdict.
func (p *pipe) run(port flow.Port, frame []byte) datapath.Packet {
	const headroom = 256
	buf := make([]byte, headroom+len(frame)+64)
	copy(buf[headroom:], frame)
	b := []datapath.Packet{{Buf: buf, Off: headroom, Len: len(frame), InPort: port}}
	p.w.Process(b)
	return b[0]
}

// mustTX runs frame and fails unless the pipeline transmits it on out.
func (p *pipe) mustTX(port, out flow.Port, frame []byte) []byte {
	p.t.Helper()
	r := p.run(port, frame)
	if r.Verdict != datapath.VerdictTX || r.OutPort != out {
		p.t.Fatalf("pipeline: verdict %v out %v reason %v, want tx %v", r.Verdict, r.OutPort, r.Reason, out)
	}
	return append([]byte(nil), r.Frame()...)
}

// establish sends an egress packet and its reply through the pipeline
// and plans the connection: fwd is egress (underlay -> external), rev
// ingress.
// The reply is addressed to the egress output's (NATed) port or echo id.
func (p *pipe) establish(eg []byte, reply seedtest.L4) (fwd, rev flow.Action) {
	p.t.Helper()
	p.sink.got = nil
	out := p.mustTX(flow.Underlay, flow.External, eg)
	p.mustTX(flow.External, flow.Underlay, seedtest.Reply(p.t, toNAT(reply, out)))
	if len(p.sink.got) == 0 {
		p.t.Fatal("the pipeline reported no offload candidate")
	}
	fwd, rev, err := p.pl.PlanFlow(p.sink.got[0])
	if err != nil {
		p.t.Fatal(err)
	}
	return fwd, rev
}

// runFP runs one frame through xdp_gw and returns the verdict and the
// frame as the program left it.
func runFP(t testing.TB, p *ebpf.Program, frame []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(frame)+512)
	opts := ebpf.RunOptions{Data: frame, DataOut: out}
	ret, err := p.Run(&opts)
	if err != nil {
		t.Fatalf("prog run (%d bytes): %v", len(frame), err)
	}
	return ret, opts.DataOut
}

// toNAT addresses a reply L4 to the port (or echo id) that the egress
// output frame out carries.
func toNAT(x seedtest.L4, out []byte) seedtest.L4 {
	l4b := out[14+20:]
	if x.Proto == layers.IPProtocolICMPv4 {
		x.ICMPID = binary.BigEndian.Uint16(l4b[4:])
	} else {
		x.DPort = binary.BigEndian.Uint16(l4b[0:])
	}
	return x
}

// toRev addresses a reply L4 to the reverse flow's key.
func toRev(x seedtest.L4, rev flow.Action) seedtest.L4 {
	if x.Proto == layers.IPProtocolICMPv4 {
		x.ICMPID = rev.Key.SrcPort
	} else {
		x.DPort = rev.Key.DstPort
	}
	return x
}
