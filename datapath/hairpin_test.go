package datapath

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
)

// examples/host-snat.yaml: vm2 and its floating IP.
var (
	vm2      = net.IP{10, 199, 100, 20}
	vm2MAC   = seedtest.MustHW("00:00:19:91:00:20")
	floating = net.IP{172, 31, 5, 240}
	node02   = packet.MustIP4("172.31.1.22")
)

// fromVM is a frame from a VM behind the distributed router, as its
// chassis tunnels it to the gateway router (join switch, VNI 1, 1 -> 2).
func fromVM(t *testing.T, chassis, src, dst net.IP, x seedtest.L4) []byte {
	return seedtest.Geneve(t, chassis, seedtest.VTEP, 1, 1, 2,
		seedtest.InnerIPv4(t, seedtest.MACDRJoin, seedtest.MACGRJoin, src, dst, x))
}

// decodeOut checks that the pipeline re-encapsulated out to chassis on
// the VM switch (VNI 9, outport key) and returns the inner packet.
func decodeOut(t *testing.T, r Packet, chassis packet.IP4, outport uint16, mac net.HardwareAddr) packet.Parsed {
	t.Helper()
	wantTX(t, r, flow.Underlay)
	f := r.Frame()
	seedtest.CheckChecksums(t, f)
	var outer packet.Parsed
	if outer.Decode(f) != packet.OK || outer.Dst != chassis {
		t.Fatalf("outer destination %v, want chassis %v", outer.Dst, chassis)
	}
	if vni := binary.BigEndian.Uint32(f[46:]) >> 8; vni != 9 {
		t.Fatalf("VNI %d, want the VMs' switch (9)", vni)
	}
	if op := binary.BigEndian.Uint16(f[56:]); op != outport {
		t.Fatalf("OVN option outport %d, want %d", op, outport)
	}
	inner := f[58:]
	if got := packet.Ethernet(inner).Dst(); got != packet.MAC(mac) {
		t.Fatalf("inner destination MAC %v, want %v", got, mac)
	}
	var p packet.Parsed
	if p.Decode(inner) != packet.OK {
		t.Fatal("inner packet does not parse")
	}
	seedtest.CheckChecksums(t, inner)
	return p
}

// TestHairpinFloatingIP: vm1 reaches vm2 through vm2's floating IP. The
// gateway DNATs to vm2, SNATs vm1 to its rule's address (here the
// router's own, shared with the host) and re-encapsulates to vm2's
// chassis; vm2's answer, to that SNAT address, comes back to vm1 from
// the floating IP. TCP, UDP and ICMP echo; the hairpin counter moves;
// both directions plan for offload (underlay to underlay).
func TestHairpinFloatingIP(t *testing.T) {
	h := newHarness(t, seedtest.Example("host-snat.yaml"), conntrack.Config{})
	sink := &recordSink{}
	h.pl.sink = sink
	vm1 := packet.IP4(seedtest.VM)
	chassis1 := packet.IP4(seedtest.Chassis)

	for _, tc := range []struct {
		name    string
		out, in seedtest.L4
	}{
		{"tcp", seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 40000, DPort: 80, SYN: true, Seq: 1},
			seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 80, SYN: true, ACK: true, Seq: 9, AckNum: 2}},
		{"udp", seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, Payload: []byte("q")},
			seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, Payload: []byte("a")}},
		{"icmp", seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 7},
			seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 0}},
	} {
		sink.got = nil
		before := h.pl.Stats().Hairpin
		// vm1 -> floating IP: arrives at vm2 from the SNAT address.
		p := decodeOut(t, h.run(flow.Underlay, fromVM(t, seedtest.Chassis, seedtest.VM, floating, tc.out)), node02, 3, vm2MAC)
		if p.Dst != packet.IP4(vm2) || p.Src != packet.IP4(hostIP) || p.TTL != 61 {
			t.Fatalf("%s: hairpinned %v -> %v ttl %d, want %v -> %v ttl 61", tc.name, p.Src, p.Dst, p.TTL, hostIP, vm2)
		}
		if tc.out.Proto != layers.IPProtocolICMPv4 && p.DstPort != tc.out.DPort {
			t.Fatalf("%s: destination port %d, want %d (the floating IP keeps ports)", tc.name, p.DstPort, tc.out.DPort)
		}
		// vm2 answers the SNAT address: back to vm1, from the floating IP.
		in := tc.in
		in.DPort, in.ICMPID = p.SrcPort, p.SrcPort
		q := decodeOut(t, h.run(flow.Underlay, fromVM(t, node02.Addr().AsSlice(), vm2, hostIP, in)), chassis1, 2, seedtest.MACVM)
		if q.Src != packet.IP4(floating) || q.Dst != vm1 || q.DstPort != tc.out.SPort && tc.out.Proto != layers.IPProtocolICMPv4 {
			t.Fatalf("%s: answer %v:%d -> %v:%d, want %v -> %v:%d", tc.name, q.Src, q.SrcPort, q.Dst, q.DstPort, floating, vm1, tc.out.SPort)
		}
		if got := h.pl.Stats().Hairpin - before; got != 2 {
			t.Fatalf("%s: hairpin counter moved by %d, want 2", tc.name, got)
		}
		if len(sink.got) == 0 {
			t.Fatalf("%s: no offload candidate", tc.name)
		}
		fwd, rev, err := h.pl.PlanFlow(sink.got[0])
		if err != nil {
			t.Fatalf("%s: plan: %v", tc.name, err)
		}
		if !fwd.Decap || !fwd.Encap || !rev.Decap || !rev.Encap || fwd.TTLDec != 2 || rev.TTLDec != 2 ||
			fwd.NATDst != packet.IP4(vm2) || rev.NATSrc != packet.IP4(floating) || rev.Key.InPort != flow.Underlay {
			t.Fatalf("%s: planned fwd %+v rev %+v", tc.name, fwd, rev)
		}
	}
}

// TestHairpinSelf: a VM reaching its own floating IP gets its packet
// back, from its floating IP (its own dnat_and_snat rule is the most
// specific SNAT), and its answer goes back to it.
func TestHairpinSelf(t *testing.T) {
	h := newHarness(t, seedtest.Example("host-snat.yaml"), conntrack.Config{})
	x := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 7}
	p := decodeOut(t, h.run(flow.Underlay, fromVM(t, node02.Addr().AsSlice(), vm2, floating, x)), node02, 3, vm2MAC)
	if p.Src != packet.IP4(floating) || p.Dst != packet.IP4(vm2) || p.DstPort != 7 {
		t.Fatalf("self hairpin %v:%d -> %v:%d", p.Src, p.SrcPort, p.Dst, p.DstPort)
	}
	back := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 7, DPort: p.SrcPort}
	q := decodeOut(t, h.run(flow.Underlay, fromVM(t, node02.Addr().AsSlice(), vm2, floating, back)), node02, 3, vm2MAC)
	if q.Src != packet.IP4(floating) || q.SrcPort != 7 || q.Dst != packet.IP4(vm2) || q.DstPort != 5555 {
		t.Fatalf("self hairpin answer %v:%d -> %v:%d", q.Src, q.SrcPort, q.Dst, q.DstPort)
	}
}

// TestHairpinSNATOnlyAddress: a VM sending to an SNAT-only address (here
// the router's own, shared with the host) hits a mapping only with the
// exact endpoint it was made for: mappings are endpoint-dependent, as
// OVS's. Anything else is dropped, counted no-connection.
func TestHairpinSNATOnlyAddress(t *testing.T) {
	h := newHarness(t, seedtest.Example("host-snat.yaml"), conntrack.Config{})
	// vm1 holds a mapping toward the server...
	out := h.run(flow.Underlay, fromVM(t, seedtest.Chassis, seedtest.VM, seedtest.Server, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 4000, DPort: 53}))
	wantTX(t, out, flow.External)
	var p packet.Parsed
	if p.Decode(out.Frame()) != packet.OK || p.Src != packet.IP4(hostIP) {
		t.Fatalf("egress from %v, want the router's address", p.Src)
	}
	// ...that vm2 (which has its own floating IP) cannot use.
	before := h.pl.Stats().Drops[DropNoConn]
	wantDrop(t, h.run(flow.Underlay, fromVM(t, node02.Addr().AsSlice(), vm2, hostIP,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5000, DPort: p.SrcPort})), DropNoConn)
	if h.pl.Stats().Drops[DropNoConn] != before+1 {
		t.Fatal("no-connection did not move")
	}
	// Pinging the router's own address is still answered by the router.
	r := h.run(flow.Underlay, fromVM(t, seedtest.Chassis, seedtest.VM, hostIP, seedtest.L4{Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 9}))
	wantTX(t, r, flow.Underlay)
}

// TestHairpinZeroAllocs: an established hairpin flow, both directions,
// costs no allocation per batch.
func TestHairpinZeroAllocs(t *testing.T) {
	h := newHarness(t, seedtest.Example("host-snat.yaml"), conntrack.Config{})
	fwd := fromVM(t, seedtest.Chassis, seedtest.VM, floating, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53})
	p := decodeOut(t, h.run(flow.Underlay, fwd), node02, 3, vm2MAC)
	ans := fromVM(t, node02.Addr().AsSlice(), vm2, hostIP, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: p.SrcPort})
	decodeOut(t, h.run(flow.Underlay, ans), packet.IP4(seedtest.Chassis), 2, seedtest.MACVM)
	frames := [][]byte{fwd, ans}
	bufs := [][]byte{make([]byte, 2048), make([]byte, 2048)}
	batch := make([]Packet, 2)
	allocs := testing.AllocsPerRun(200, func() {
		for i, f := range frames {
			copy(bufs[i][headroom:], f)
			batch[i] = Packet{Buf: bufs[i], Off: headroom, Len: len(f), InPort: flow.Underlay}
		}
		h.w.Process(batch)
	})
	for i, r := range batch {
		if r.Verdict != VerdictTX || r.OutPort != flow.Underlay {
			t.Fatalf("slot %d: %v %v", i, r.Verdict, r.Reason)
		}
	}
	if allocs != 0 {
		t.Fatalf("hairpin allocates %v per batch", allocs)
	}
}

// TestHairpinCachedCountsHairpin: a hairpinned flow served from the flow
// cache is counted as hairpin, as the pipeline counts it, not as ingress.
func TestHairpinCachedCountsHairpin(t *testing.T) {
	h := newHarness(t, seedtest.Example("host-snat.yaml"), conntrack.Config{})
	if h.w.cache == nil {
		t.Fatal("the harness's worker has no flow cache")
	}
	out := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5557, DPort: 53, Payload: []byte("q")}
	req := fromVM(t, seedtest.Chassis, seedtest.VM, floating, out)
	p := decodeOut(t, h.run(flow.Underlay, req), node02, 3, vm2MAC)
	in := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: p.SrcPort, Payload: []byte("a")}
	ans := fromVM(t, node02.Addr().AsSlice(), vm2, hostIP, in)
	decodeOut(t, h.run(flow.Underlay, ans), packet.IP4(seedtest.Chassis), 2, seedtest.MACVM)
	before := h.pl.Stats()
	const n = 8
	for range n {
		decodeOut(t, h.run(flow.Underlay, req), node02, 3, vm2MAC)
		decodeOut(t, h.run(flow.Underlay, ans), packet.IP4(seedtest.Chassis), 2, seedtest.MACVM)
	}
	after := h.pl.Stats()
	if hits := after.CacheHits - before.CacheHits; hits < n {
		t.Fatalf("%d cache hits of %d hairpinned packets: the test does not reach the cache", hits, 2*n)
	}
	if got := after.Hairpin - before.Hairpin; got != 2*n {
		t.Fatalf("hairpin counter moved by %d for %d hairpinned packets (ingress by %d)", got, 2*n, after.Ingress-before.Ingress)
	}
}
