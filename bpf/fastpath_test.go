package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

const xdpRedirectVerdict = 4

var seedSNATAddr = netip.MustParseAddr("123.123.123.123")

// fpEnv is xdp_gw loaded with the seed's VTEP and SNAT address, both
// ports pointing at lo (BPF_PROG_RUN does not transmit), next to the
// software pipeline it must equal.
type fpEnv struct {
	o  *Objects
	fp *FastPath
	p  *pipe
}

func newFP(t testing.TB, geneveChecksum bool) *fpEnv {
	t.Helper()
	needRoot(t)
	o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP))})
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
	return &fpEnv{o: o, fp: fp, p: newPipe(t, geneveChecksum)}
}

func (e *fpEnv) install(t testing.TB, as ...flow.Action) {
	t.Helper()
	for i := range as {
		if err := e.fp.Install(&as[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *fpEnv) stats(t testing.TB) Stats {
	t.Helper()
	s, err := e.o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantSame runs frame through the pipeline and the fast path and fails
// unless the fast path redirects exactly the pipeline's output.
func (e *fpEnv) wantSame(t testing.TB, in, out flow.Port, frame []byte) []byte {
	t.Helper()
	want := e.p.mustTX(in, out, frame)
	ret, got := runFP(t, e.o.Program(), frame)
	if ret != xdpRedirectVerdict {
		t.Fatalf("fast path verdict %d, want XDP_REDIRECT; stats %+v", ret, e.stats(t).FastPath)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fast path output differs from the pipeline's\n got %x\nwant %x", got, want)
	}
	return got
}

// flowCase is one connection: how to open it and the packets to compare.
type flowCase struct {
	name       string
	eg, reply  seedtest.L4 // establishing packets
	eg2, rply2 seedtest.L4 // compared packets
}

func flowCases() []flowCase {
	pl := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + n)
		}
		return b
	}
	return []flowCase{
		{"udp", seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, Payload: pl(5)}, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5555, Payload: pl(9)},
			seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, Payload: pl(18)}, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5555, Payload: pl(1400)}},
		{"udp odd", seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 40001, DPort: 4789, Payload: pl(1)}, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 4789, DPort: 40001, Payload: pl(3)},
			seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 40001, DPort: 4789, Payload: pl(101)}, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 4789, DPort: 40001, Payload: pl(33)}},
		{"tcp", seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 47190, DPort: 22, SYN: true, Seq: 1000}, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 22, DPort: 47190, SYN: true, ACK: true, Seq: 5000, AckNum: 1001},
			seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 47190, DPort: 22, ACK: true, Seq: 1001, AckNum: 5001, Payload: pl(77)},
			seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 22, DPort: 47190, ACK: true, Seq: 5001, AckNum: 1078, Payload: pl(1000)}},
		{"icmp echo", seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 77, Payload: pl(8)}, seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 0, ICMPID: 77, Payload: pl(8)},
			seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 77, Payload: pl(56)}, seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 0, ICMPID: 77, Payload: pl(57)}},
	}
}

// TestFastPathEqualsPipeline plans each connection with the pipeline's
// PlanFlow, installs both directions, then checks that the fast path's
// output for the next packets equals the pipeline's byte for byte, with
// the outer UDP checksum on and off, and that the outer checksum also
// verifies by a full independent sum.
func TestFastPathEqualsPipeline(t *testing.T) {
	runFlowCases(t, newFP, seedtest.Egress, nil)
}

// TestFastPathRedirectEqualsPipeline is TestFastPathEqualsPipeline for
// a distributed gateway port (examples/distributed-gateway.yaml):
// packets a hypervisor's router redirected to cr-dr-ext (VNI = dr's
// datapath key 3, outport = the cr port's key 3, TTL already
// decremented) leave without a second decrement; replies are routed by
// dr (one decrement) back onto the tenant switch.
func TestFastPathRedirectEqualsPipeline(t *testing.T) {
	const path = "distributed-gateway.yaml"
	newEnv := func(t testing.TB, csum bool) *fpEnv { return newFPFor(t, seedtest.Example(path), csum) }
	egress := func(t testing.TB, x seedtest.L4, _ ...[]byte) []byte {
		return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 3, 1, 3,
			seedtest.InnerIPv4(t, seedtest.MACGRExt, seedtest.MACNextHop, seedtest.VM, seedtest.Server, x))
	}
	runFlowCases(t, newEnv, egress, func(t *testing.T, fwd, rev flow.Action) {
		if fwd.TTLDec != 0 || rev.TTLDec != 1 || fwd.Outport != 3 {
			t.Fatalf("fwd TTLDec %d outport %d, rev TTLDec %d; want 0, 3 (the cr port), 1", fwd.TTLDec, fwd.Outport, rev.TTLDec)
		}
	})
}

// runFlowCases runs every flowCase with the outer UDP checksum on and
// off against an environment from newEnv and egress frames from egress:
// plans the connection with the pipeline, installs both directions
// (after check, if any, looked at them), then requires the fast path's
// output for the next packet each way to equal the pipeline's and to
// have been a fast path hit.
func runFlowCases(t *testing.T, newEnv func(testing.TB, bool) *fpEnv, egress func(testing.TB, seedtest.L4, ...[]byte) []byte,
	check func(t *testing.T, fwd, rev flow.Action)) {
	for _, csum := range []bool{true, false} {
		for _, c := range flowCases() {
			t.Run(fmt.Sprintf("%s/csum=%v", c.name, csum), func(t *testing.T) {
				e := newEnv(t, csum)
				fwd, rev := e.p.establish(egress(t, c.eg), c.reply)
				if c.eg.Proto == layers.IPProtocolUDP && fwd.NATSrc == fwd.Key.Src {
					t.Fatalf("the seed's flow is not SNATed: %+v", fwd)
				}
				if check != nil {
					check(t, fwd, rev)
				}
				e.install(t, fwd, rev)
				before := e.stats(t).FastPath
				e.wantSame(t, flow.Underlay, flow.External, egress(t, c.eg2))
				got := e.wantSame(t, flow.External, flow.Underlay, seedtest.Reply(t, toRev(c.rply2, rev)))
				if csum {
					seedtest.VerifyOuterUDP(t, got)
				}
				after := e.stats(t).FastPath
				if after.HitEgress.Packets-before.HitEgress.Packets != 1 || after.HitIngress.Packets-before.HitIngress.Packets != 1 {
					t.Fatalf("hits %+v -> %+v", before, after)
				}
			})
		}
	}
}

// TestFastPathUDPChecksumRules covers the UDP special cases: a zero
// (absent) inner checksum stays zero on egress; a rewrite that computes
// zero sends 0xffff; on ingress a zero inner checksum punts when the outer
// checksum must be derived from it, and is forwarded when it need not.
func TestFastPathUDPChecksumRules(t *testing.T) {
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 6000, DPort: 53, Payload: []byte("query1")}
	rp := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 6000, Payload: []byte("answer")}
	zero := func(x seedtest.L4) seedtest.L4 { x.NoUDPCsum = true; return x }

	t.Run("zero stays zero", func(t *testing.T) {
		e := newFP(t, false)
		fwd, rev := e.p.establish(seedtest.Egress(t, eg), rp)
		e.install(t, fwd, rev)
		out := e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, zero(eg)))
		if c := binary.BigEndian.Uint16(out[14+20+6:]); c != 0 {
			t.Fatalf("egress UDP checksum %#04x, want 0", c)
		}
		out = e.wantSame(t, flow.External, flow.Underlay, seedtest.Reply(t, toRev(zero(rp), rev)))
		if c := binary.BigEndian.Uint16(out[58+14+20+6:]); c != 0 {
			t.Fatalf("ingress inner UDP checksum %#04x, want 0", c)
		}
	})

	t.Run("zero punts with outer checksum", func(t *testing.T) {
		e := newFP(t, true)
		fwd, rev := e.p.establish(seedtest.Egress(t, eg), rp)
		e.install(t, fwd, rev)
		in := seedtest.Reply(t, toRev(zero(rp), rev))
		before := e.stats(t)
		ret, out := runFP(t, e.o.Program(), in)
		after := e.stats(t)
		if ret != xdpPass || !bytes.Equal(out, in) {
			t.Fatalf("verdict %d (frame changed: %v), want the unchanged frame steered (XDP_PASS without a socket)", ret, !bytes.Equal(out, in))
		}
		if d := after.FastPath.Punts[PuntChecksum].Packets - before.FastPath.Punts[PuntChecksum].Packets; d != 1 {
			t.Fatalf("checksum punts moved by %d", d)
		}
		// The software path then does the job.
		seedtest.VerifyOuterUDP(t, e.p.mustTX(flow.External, flow.Underlay, in))
	})

	for _, dir := range []string{"egress", "ingress"} {
		t.Run("computed zero is 0xffff/"+dir, func(t *testing.T) {
			e := newFP(t, true)
			fwd, rev := e.p.establish(seedtest.Egress(t, eg), rp)
			e.install(t, fwd, rev)
			a, frame, l4off := fwd, seedtest.Egress(t, eg), 58+14+20
			in, out := flow.Underlay, flow.External
			if dir == "ingress" {
				a, frame, l4off = rev, seedtest.Reply(t, toRev(rp, rev)), 14+20
				in, out = flow.External, flow.Underlay
			}
			// ~(~c + d) == 0 exactly when c == d: make the arriving
			// checksum equal the flow's delta by tuning two payload bytes.
			_, v, err := encodeFlow(&a)
			if err != nil {
				t.Fatal(err)
			}
			setUDPChecksum(t, frame, l4off, uint16(v.L4Delta))
			if dir == "egress" {
				seedtest.FixOuterUDP(frame)
			}
			got := e.wantSame(t, in, out, frame)
			off := 14 + 20 + 6
			if dir == "ingress" {
				off += 58
				seedtest.VerifyOuterUDP(t, got)
			}
			if c := binary.BigEndian.Uint16(got[off:]); c != 0xffff {
				t.Fatalf("rewritten UDP checksum %#04x, want 0xffff", c)
			}
		})
	}
}

// setUDPChecksum changes the last two payload bytes of the UDP datagram at
// l4off (which ends the frame) so that its valid checksum is want.
func setUDPChecksum(t testing.TB, f []byte, l4off int, want uint16) {
	t.Helper()
	ip := f[l4off-20 : l4off]
	seg := f[l4off:]
	if len(seg)%2 != 0 || len(seg) < 10 {
		t.Fatal("setUDPChecksum needs an even payload of at least 2 bytes")
	}
	ps := seedtest.PseudoSum(ip, 17, len(seg))
	last := len(seg) - 2
	binary.BigEndian.PutUint16(seg[6:], 0)
	binary.BigEndian.PutUint16(seg[last:], 0)
	s := seedtest.OnesSum(seg, ps) // the sum without the tuned word
	// want = ~fold(s + w)  =>  w = ~want - s (one's complement)
	w := uint32(^want) + uint32(^s)
	for w>>16 != 0 {
		w = w&0xffff + w>>16
	}
	binary.BigEndian.PutUint16(seg[last:], uint16(w))
	binary.BigEndian.PutUint16(seg[6:], ^seedtest.OnesSum(seg, ps))
	if c := binary.BigEndian.Uint16(seg[6:]); c != want {
		t.Fatalf("could not force the UDP checksum to %#04x (got %#04x)", want, c)
	}
}

// TestFastPathPadding: bytes after an IPv4 datagram are trimmed, not
// forwarded (issue 3), the same as the pipeline does: an inbound frame's
// Ethernet padding is not carried into the tunnel, and neither the bytes
// after the outer UDP datagram nor those after the inner datagram come
// out of it.
func TestFastPathPadding(t *testing.T) {
	e := newFP(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 99}
	rp := seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 0, ICMPID: 99}
	fwd, rev := e.p.establish(seedtest.Egress(t, eg), rp)
	e.install(t, fwd, rev)

	for _, n := range []int{1, 17, 18, 31} { // odd and even starts
		in := seedtest.Reply(t, toRev(seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 0, Payload: make([]byte, n%2)}, rev))
		want := len(in)
		for i := range 60 - len(in) {
			in = append(in, byte(0xa5+i))
		}
		got := e.wantSame(t, flow.External, flow.Underlay, in)
		seedtest.VerifyOuterUDP(t, got)
		if len(got) != want+geneve.EncapLen {
			t.Fatalf("%d bytes out, want the datagram's %d plus encap", len(got), want)
		}
	}
	in := append(seedtest.Egress(t, eg), 0xde, 0xad, 0xbe, 0xef, 0x01)
	e.wantSame(t, flow.Underlay, flow.External, in)
	// Bytes after the inner datagram, inside the tunnel: trimmed too.
	inner := seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, eg)
	n := len(inner)
	inner = append(inner, 0xde, 0xad, 0xbe, 0xef, 0x01)
	got := e.wantSame(t, flow.Underlay, flow.External, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, inner))
	if len(got) != n {
		t.Fatalf("egress with inner padding: %d bytes out, want the datagram's %d", len(got), n)
	}
}

// TestFastPathGeneveOptions: a non-critical option before OVN's is
// skipped; an unknown critical one, a second OVN option or OAM punt.
func TestFastPathGeneveOptions(t *testing.T) {
	e := newFP(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 7000, DPort: 53, Payload: []byte("x")}
	fwd, rev := e.p.establish(seedtest.Egress(t, eg), seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 7000})
	e.install(t, fwd, rev)

	e.wantSame(t, flow.Underlay, flow.External,
		seedtest.Egress(t, eg, []byte{0x01, 0x03, 0x05, 0x02, 1, 2, 3, 4, 5, 6, 7, 8}))
	oam := seedtest.Egress(t, eg)
	oam[43] |= 0x80
	seedtest.FixOuterUDP(oam)
	for name, f := range map[string][]byte{
		"critical": seedtest.Egress(t, eg, []byte{0x01, 0x03, 0x85, 0x00}),
		"two ovn":  seedtest.Egress(t, eg, []byte{0x01, 0x02, 0x80, 0x01, 0, 0, 0, 1}),
		"oam":      oam,
	} {
		t.Run(name, func(t *testing.T) {
			wantPunt(t, e, f, PuntGeneve)
		})
	}
}

// wantPunt checks that frame leaves xdp_gw unchanged on the steering
// path (XDP_PASS: no socket in these tests) with reason counted once.
func wantPunt(t *testing.T, e *fpEnv, frame []byte, why PuntReason) {
	t.Helper()
	before := e.stats(t)
	ret, out := runFP(t, e.o.Program(), frame)
	after := e.stats(t)
	if ret != xdpPass {
		t.Fatalf("verdict %d, want XDP_PASS (steered, no socket)", ret)
	}
	if !bytes.Equal(out, frame) {
		t.Fatalf("punted frame was changed")
	}
	if d := after.FastPath.Punts[why].Packets - before.FastPath.Punts[why].Packets; d != 1 {
		t.Fatalf("punts[%v] moved by %d; before %+v after %+v", why, d, before.FastPath, after.FastPath)
	}
	if d := after.NoSocket.Packets - before.NoSocket.Packets; d != 1 {
		t.Fatalf("punted frame did not continue to the steering (NoSocket moved by %d)", d)
	}
}

// TestFastPathPunts: everything the brief sends to software does go
// there, unchanged, counted by reason.
func TestFastPathPunts(t *testing.T) {
	e := newFP(t, true)
	tcpEg := seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 47191, DPort: 22, SYN: true, Seq: 1}
	tcpRp := seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 22, DPort: 47191, SYN: true, ACK: true, Seq: 9, AckNum: 2}
	fwd, rev := e.p.establish(seedtest.Egress(t, tcpEg), tcpRp)
	e.install(t, fwd, rev)
	udpEg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5353, DPort: 53}
	ufwd, urev := e.p.establish(seedtest.Egress(t, udpEg), seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5353})
	e.install(t, ufwd, urev)
	icmpEg := seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 5}
	ifwd, irev := e.p.establish(seedtest.Egress(t, icmpEg), seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 0, ICMPID: 5})
	e.install(t, ifwd, irev)

	ack := seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 47191, DPort: 22, ACK: true, Seq: 2, AckNum: 10}
	with := func(f func(*seedtest.L4)) seedtest.L4 { x := ack; f(&x); return x }
	innerMod := func(x seedtest.L4, f func(ip []byte)) []byte {
		in := seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, x)
		f(in[14:])
		binary.BigEndian.PutUint16(in[24:], 0)
		binary.BigEndian.PutUint16(in[24:], ^seedtest.OnesSum(in[14:14+(in[14]&0xf)*4], 0))
		return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, in)
	}
	// A fragment of the offloaded UDP flow's reply, from the external
	// side: first (MF) or later (offset 1480).
	extFrag := func(f func(ip []byte)) []byte {
		in := seedtest.Reply(t, toRev(seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, Payload: make([]byte, 64)}, urev))
		f(in[14:])
		binary.BigEndian.PutUint16(in[24:], 0)
		binary.BigEndian.PutUint16(in[24:], ^seedtest.OnesSum(in[14:34], 0))
		return in
	}
	options := func() []byte {
		in := seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, ack)
		// IHL 6 with a NOP option word.
		in = append(in[:34:34], append([]byte{1, 1, 1, 0}, in[34:]...)...)
		in[14] = 0x46
		binary.BigEndian.PutUint16(in[16:], binary.BigEndian.Uint16(in[16:])+4)
		binary.BigEndian.PutUint16(in[24:], 0)
		binary.BigEndian.PutUint16(in[24:], ^seedtest.OnesSum(in[14:38], 0))
		return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, in)
	}
	vlan := func() []byte {
		f := seedtest.Egress(t, ack)
		return append(append(append([]byte{}, f[:12]...), 0x81, 0x00, 0x00, 0x64), f[12:]...)
	}
	badOuter := func() []byte {
		f := seedtest.Egress(t, ack)
		f[24] ^= 0xff
		return f
	}
	arp := seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, append(append(append([]byte{}, seedtest.MACGRJoin...), seedtest.MACDRJoin...), append([]byte{0x08, 0x06}, make([]byte, 28)...)...))

	for _, c := range []struct {
		name  string
		frame []byte
		why   PuntReason
	}{
		{"syn", seedtest.Egress(t, with(func(x *seedtest.L4) { x.SYN = true })), PuntSYN},
		{"fin", seedtest.Egress(t, with(func(x *seedtest.L4) { x.FIN = true })), PuntFIN},
		{"rst", seedtest.Egress(t, with(func(x *seedtest.L4) { x.RST = true })), PuntRST},
		{"rst ingress", seedtest.Reply(t, toRev(seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 22, RST: true, Seq: 10}, rev)), PuntRST},
		{"fragment", innerMod(ack, func(ip []byte) { ip[6] |= 0x20 }), PuntFragment},
		{"later fragment", innerMod(ack, func(ip []byte) { ip[7] = 1 }), PuntFragment},
		{"udp fragment egress", innerMod(udpEg, func(ip []byte) { ip[6] = 0x20 }), PuntFragment},
		{"udp first fragment ingress", extFrag(func(ip []byte) { ip[6] = 0x20 }), PuntFragment},
		{"udp later fragment ingress", extFrag(func(ip []byte) { ip[6], ip[7] = 0, 1480/8 }), PuntFragment},
		{"ttl 1 egress", seedtest.Egress(t, with(func(x *seedtest.L4) { x.TTL = 1 })), PuntTTL},
		{"ttl 2 ingress (two hops)", seedtest.Reply(t, toRev(seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, TTL: 2}, urev)), PuntTTL},
		{"inner ip options", options(), PuntIPOptions},
		{"outer vlan", vlan(), PuntVLAN},
		{"inner arp", arp, PuntNotIPv4},
		{"bad outer ip checksum", badOuter(), PuntMalformed},
		{"icmp wrong type", seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 0, ICMPID: 5}), PuntProto},
		{"icmp error", seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 3}), PuntProto},
	} {
		t.Run(c.name, func(t *testing.T) { wantPunt(t, e, c.frame, c.why) })
	}

	t.Run("miss", func(t *testing.T) {
		before := e.stats(t)
		wantPuntMiss(t, e, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1, DPort: 2}))
		wantPuntMiss(t, e, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 2, DPort: 1}))
		after := e.stats(t)
		if after.RedirectGeneve != before.RedirectGeneve || after.NoSocket.Packets-before.NoSocket.Packets != 2 {
			t.Fatalf("steering after a miss: %+v -> %+v", before, after)
		}
	})

	t.Run("no port", func(t *testing.T) {
		if err := e.fp.ClearPort(flow.External); err != nil {
			t.Fatal(err)
		}
		defer e.fp.SetPort(flow.External, 1)
		wantPunt(t, e, seedtest.Egress(t, ack), PuntNoPort)
	})

	// The flows still work after all that.
	e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, ack))
}

func wantPuntMiss(t *testing.T, e *fpEnv, frame []byte) {
	t.Helper()
	before := e.stats(t)
	ret, out := runFP(t, e.o.Program(), frame)
	after := e.stats(t)
	if ret != xdpPass || !bytes.Equal(out, frame) {
		t.Fatalf("miss: verdict %d, changed %v", ret, !bytes.Equal(out, frame))
	}
	if after.FastPath.Miss.Packets-before.FastPath.Miss.Packets != 1 {
		t.Fatalf("miss not counted")
	}
}

// TestFastPathCounters: per-flow packets, bytes (inner IPv4 lengths) and
// last-seen move with hits, and Flows and Lookup report them.
func TestFastPathCounters(t *testing.T) {
	e := newFP(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5000, DPort: 9, Payload: make([]byte, 22)}
	fwd, rev := e.p.establish(seedtest.Egress(t, eg), seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 9, DPort: 5000})
	e.install(t, fwd, rev)
	if p, b, ls, err := e.fp.Counters(fwd.Key); err != nil || p != 0 || b != 0 || !ls.IsZero() {
		t.Fatalf("fresh flow counters %d %d %v %v", p, b, ls, err)
	}
	start := time.Now()
	frame := seedtest.Egress(t, eg)
	for range 5 {
		if ret, _ := runFP(t, e.o.Program(), frame); ret != xdpRedirectVerdict {
			t.Fatalf("verdict %d", ret)
		}
	}
	end := time.Now()
	p, b, ls, err := e.fp.Counters(fwd.Key)
	if err != nil {
		t.Fatal(err)
	}
	if p != 5 || b != 5*(20+8+22) {
		t.Fatalf("counters %d packets %d bytes, want 5 and %d", p, b, 5*50)
	}
	// Coarse time: up to one tick (<= 10 ms at HZ=100) behind.
	if ls.Before(start.Add(-10*time.Millisecond)) || ls.After(end.Add(time.Millisecond)) {
		t.Fatalf("last seen %v not within [%v, %v]", ls, start, end)
	}
	// A re-install keeps the counters.
	e.install(t, fwd)
	if p2, _, _, _ := e.fp.Counters(fwd.Key); p2 != 5 {
		t.Fatalf("re-install reset the counters to %d", p2)
	}
	seen := 0
	for f, err := range e.fp.Flows() {
		if err != nil {
			t.Fatal(err)
		}
		seen++
		if f.Action.Key == fwd.Key && (f.Packets != 5 || f.LastSeen.IsZero()) {
			t.Fatalf("Flows reports %+v", f)
		}
	}
	if seen != 2 {
		t.Fatalf("Flows walked %d entries, want 2", seen)
	}
}

// TestFastPathRoundTrip: what Install stores reads back as the action.
func TestFastPathRoundTrip(t *testing.T) {
	e := newFP(t, true)
	for _, c := range flowCases() {
		e.p.sink.got = nil
		fwd, rev := e.p.establish(seedtest.Egress(t, c.eg), c.reply)
		e.install(t, fwd, rev)
		for _, a := range []flow.Action{fwd, rev} {
			f, err := e.fp.Lookup(a.Key)
			if err != nil {
				t.Fatal(err)
			}
			want := a
			want.Conns = [2]flow.Conn{}
			if want.Encap && want.Outer.TTL == 0 {
				want.Outer.TTL = 64
			}
			if f.Action != want {
				t.Fatalf("%s: read back\n%+v\nwant\n%+v", c.name, f.Action, want)
			}
			if a.Key.Proto == packet.ProtoICMP && f.ICMPType != map[bool]uint8{true: 8, false: 0}[a.Key.InPort == flow.Underlay] {
				t.Fatalf("ICMP type %d for %+v", f.ICMPType, a.Key)
			}
		}
	}
}

func TestFastPathRemoveAndBatch(t *testing.T) {
	e := newFP(t, true)
	fwd, rev := e.p.establish(seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 1234, DPort: 53}),
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 1234})
	var as []flow.Action
	for i := range 100 {
		a := fwd
		a.Key.SrcPort = uint16(20000 + i)
		as = append(as, a)
	}
	as = append(as, rev)
	n, err := e.fp.InstallBatch(as)
	if err != nil || n != len(as) {
		t.Fatalf("InstallBatch: %d, %v", n, err)
	}
	frame := seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 20007, DPort: 53})
	if ret, _ := runFP(t, e.o.Program(), frame); ret != xdpRedirectVerdict {
		t.Fatalf("batch-installed flow: verdict %d", ret)
	}
	var ks []flow.Key
	for _, a := range as[:50] {
		ks = append(ks, a.Key)
	}
	ks = append(ks[:10], append([]flow.Key{{Proto: 17, SrcPort: 1}}, ks[10:]...)...) // a missing key
	if n, err := e.fp.RemoveBatch(ks); err != nil || n != 50 {
		t.Fatalf("RemoveBatch: %d, %v", n, err)
	}
	if ret, _ := runFP(t, e.o.Program(), frame); ret != xdpPass {
		t.Fatalf("removed flow still forwarded: verdict %d", ret)
	}
	if err := e.fp.Remove(as[60].Key); err != nil {
		t.Fatal(err)
	}
	if err := e.fp.Remove(as[60].Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove: %v, want ErrNotFound", err)
	}
	if _, _, _, err := e.fp.Counters(as[60].Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Counters of a removed flow: %v", err)
	}
}

func TestFastPathFull(t *testing.T) {
	needRoot(t)
	o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP)), FlowCapacity: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	fp := o.FastPath()
	a := flow.Action{Key: flow.Key{InPort: flow.External, Proto: packet.ProtoUDP,
		Src: packet.MustIP4("198.51.100.1"), Dst: packet.MustIP4("203.0.113.1")}, OutPort: flow.External}
	a.NATSrc, a.NATDst = a.Key.Src, a.Key.Dst
	for i := range 4 {
		a.Key.SrcPort = uint16(i)
		a.NATSrcPort = uint16(i)
		if err := fp.Install(&a); err != nil {
			t.Fatal(err)
		}
	}
	a.Key.SrcPort, a.NATSrcPort = 99, 99
	if err := fp.Install(&a); !errors.Is(err, ErrFull) {
		t.Fatalf("install into a full map: %v, want ErrFull", err)
	}
	a.Key.SrcPort, a.NATSrcPort = 2, 2
	if err := fp.Install(&a); err != nil {
		t.Fatalf("replacing in a full map: %v", err)
	}
}

func TestFastPathInstallRejects(t *testing.T) {
	good := flow.Action{Key: flow.Key{InPort: flow.External, Proto: packet.ProtoUDP}, OutPort: flow.External}
	for name, mod := range map[string]func(*flow.Action){
		"underlay without decap": func(a *flow.Action) { a.Key.InPort = flow.Underlay },
		"encap to external":      func(a *flow.Action) { a.Encap = true },
		"underlay out no encap":  func(a *flow.Action) { a.OutPort = flow.Underlay },
		"gre":                    func(a *flow.Action) { a.Key.Proto = 47 },
		"external with vni":      func(a *flow.Action) { a.Key.VNI = 3 },
		"bad port":               func(a *flow.Action) { a.OutPort = 7 },
	} {
		a := good
		mod(&a)
		if _, _, err := encodeFlow(&a); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := encodeFlow(&good); err != nil {
		t.Fatal(err)
	}
}

// spoofVTEP is an underlay address that is no chassis of the seed.
var spoofVTEP = net.IP{172, 31, 1, 99}

// TestFastPathUnknownVTEP: an offloaded flow's Geneve is forwarded by the
// fast path only from a known chassis. The same packet (inner 5-tuple,
// VNI, inner MAC) from another outer source is left unchanged for the
// steering (AF_XDP; XDP_PASS here, with no socket), counted as a punt
// geneve-unknown-source, does not touch the flow's counters, and the
// pipeline it goes to drops it for that reason.
func TestFastPathUnknownVTEP(t *testing.T) {
	for _, c := range flowCases() {
		t.Run(c.name, func(t *testing.T) {
			e := newFP(t, true)
			fwd, rev := e.p.establish(seedtest.Egress(t, c.eg), c.reply)
			e.install(t, fwd, rev)
			e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, c.eg2))

			spoofed := seedtest.Geneve(t, spoofVTEP, seedtest.VTEP, 1, 1, 2,
				seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, seedtest.VM, seedtest.Server, c.eg2))
			// Only the outer source (and the outer checksums) differ.
			real := seedtest.Egress(t, c.eg2)
			for _, off := range []int{24, 25, 26, 27, 28, 29, 40, 41} {
				real[off] = spoofed[off]
			}
			if !bytes.Equal(real, spoofed) {
				t.Fatalf("the spoofed frame differs from the flow's beyond the outer source")
			}
			before := e.stats(t).FastPath
			pk, _, _, err := e.fp.Counters(fwd.Key)
			if err != nil {
				t.Fatal(err)
			}
			wantPunt(t, e, spoofed, PuntUnknownVTEP)
			after := e.stats(t).FastPath
			if after.HitEgress != before.HitEgress || after.Miss != before.Miss {
				t.Fatalf("spoofed packet reached the flow table: %+v -> %+v", before, after)
			}
			if pk2, _, _, _ := e.fp.Counters(fwd.Key); pk2 != pk {
				t.Fatalf("flow counted the spoofed packet: %d -> %d", pk, pk2)
			}
			if r := e.p.run(flow.Underlay, spoofed); r.Verdict != datapath.VerdictDrop || r.Reason != datapath.DropGeneveSource {
				t.Fatalf("pipeline: verdict %v reason %v, want drop %v", r.Verdict, r.Reason, datapath.DropGeneveSource)
			}
			if PuntUnknownVTEP.String() != datapath.DropGeneveSource.String() {
				t.Fatalf("punt %q and drop %q should share the name", PuntUnknownVTEP, datapath.DropGeneveSource)
			}

			// The chassis' packets still go through, and ingress never
			// looks at the set.
			e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, c.eg2))
			e.wantSame(t, flow.External, flow.Underlay, seedtest.Reply(t, toRev(c.rply2, rev)))
		})
	}
}

// TestFastPathEmptyVTEPsFailClosed: with no VTEP (a fresh map, or one
// SetVTEPs emptied) no Geneve is fast-forwarded, the chassis' included;
// ingress flows still are.
func TestFastPathEmptyVTEPsFailClosed(t *testing.T) {
	e := newFP(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5151, DPort: 53, Payload: []byte("x")}
	rp := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: 5151, Payload: []byte("y")}
	fwd, rev := e.p.establish(seedtest.Egress(t, eg), rp)
	e.install(t, fwd, rev)
	if err := e.fp.SetVTEPs(nil); err != nil {
		t.Fatal(err)
	}
	wantPunt(t, e, seedtest.Egress(t, eg), PuntUnknownVTEP)
	e.wantSame(t, flow.External, flow.Underlay, seedtest.Reply(t, toRev(rp, rev)))
	setSeedVTEPs(t, e.fp)
	e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, eg))

	// A fresh load starts empty.
	o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP))})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if got, err := o.FastPath().VTEPs(); err != nil || len(got) != 0 {
		t.Fatalf("fresh VTEP set %v, %v; want empty", got, err)
	}
}

// TestFastPathSetVTEPs: SetVTEPs makes the set exactly what it is given
// (adds, removes, ignores 0.0.0.0 and duplicates), refuses more than the
// map holds without touching it, and a copy loaded with Share sees the
// same set (the underlay's and the external's programs share it).
func TestFastPathSetVTEPs(t *testing.T) {
	needRoot(t)
	o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP))})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	o2, err := Load(Options{Share: o})
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	fp := o.FastPath()
	ip := packet.MustIP4
	check := func(want ...packet.IP4) {
		t.Helper()
		for _, f := range []*FastPath{fp, o2.FastPath()} {
			got, err := f.VTEPs()
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("VTEPs %v, want %v", got, want)
			}
		}
	}
	for _, step := range []struct {
		set  []packet.IP4
		want []packet.IP4
	}{
		{[]packet.IP4{ip("10.0.0.2"), ip("10.0.0.1")}, []packet.IP4{ip("10.0.0.1"), ip("10.0.0.2")}},
		{[]packet.IP4{ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.3"), {}}, []packet.IP4{ip("10.0.0.2"), ip("10.0.0.3")}},
		{nil, nil},
		{[]packet.IP4{ip("192.0.2.7")}, []packet.IP4{ip("192.0.2.7")}},
	} {
		if err := fp.SetVTEPs(step.set); err != nil {
			t.Fatal(err)
		}
		check(step.want...)
	}
	many := make([]packet.IP4, int(o.objs.XgwVteps.MaxEntries())+1)
	for i := range many {
		many[i] = packet.IP4{10, 1, byte(i >> 8), byte(i)}
	}
	if err := fp.SetVTEPs(many); !errors.Is(err, ErrFull) {
		t.Fatalf("SetVTEPs of %d addresses: %v, want ErrFull", len(many), err)
	}
	check(ip("192.0.2.7"))
	if err := fp.SetVTEPs(many[:MaxVTEPs]); err != nil {
		t.Fatalf("SetVTEPs of MaxVTEPs addresses: %v", err)
	}
	if got, _ := fp.VTEPs(); len(got) != MaxVTEPs {
		t.Fatalf("%d VTEPs, want %d", len(got), MaxVTEPs)
	}
}
