package datapath

import (
	"bytes"
	"net"
	"slices"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// The keys of examples/distributed-gateway.yaml.
const (
	dgpRouterKey = 3 // dr's datapath: VNI of redirected traffic
	dgpCRKey     = 3 // cr-dr-ext: its outport
	dgpSwitchKey = 2 // sw1
	dgpSw1DRKey  = 4 // sw1-dr
	dgpVMKey     = 2 // vm1
)

// dgpEgress is what a hypervisor sends for vm1 -> server through dr's
// distributed gateway port: already routed by dr (TTL 63, eth dr-ext ->
// next hop), VNI dr's key, option (dr-sw1's key 1 << 16 | cr-dr-ext's).
func dgpEgress(t *testing.T, vni uint32, outport uint16, x seedtest.L4) []byte {
	inner := seedtest.InnerIPv4(t, seedtest.MACGRExt, seedtest.MACNextHop, seedtest.VM, seedtest.Server, x)
	return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, vni, 1, outport, inner)
}

// TestDistributedGatewayPort: redirected egress is NATed and sent out
// without a second TTL decrement, with the addresses the hypervisor set;
// the reply is routed by dr onto sw1 in one hop and tunnelled to the VM's
// chassis with sw1's key; the wrong outport, an unknown VNI and dr's
// tenant port as if it were a join port are dropped, counted.
func TestDistributedGatewayPort(t *testing.T) {
	h := newHarness(t, seedtest.Example("distributed-gateway.yaml"), conntrack.Config{})
	udp := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, Payload: []byte("q")}

	out := h.run(flow.Underlay, dgpEgress(t, dgpRouterKey, dgpCRKey, udp))
	wantTX(t, out, flow.External)
	f := out.Frame()
	seedtest.CheckChecksums(t, f)
	var p packet.Parsed
	if p.Decode(f) != packet.OK {
		t.Fatal("output does not parse")
	}
	eth := packet.Ethernet(f)
	if eth.Src() != packet.MAC(seedtest.MACGRExt) || eth.Dst() != packet.MAC(seedtest.MACNextHop) {
		t.Errorf("eth %v -> %v, want dr-ext -> next hop", eth.Src(), eth.Dst())
	}
	if p.TTL != 63 {
		t.Errorf("TTL %d, want 63: the hypervisor's router already decremented it", p.TTL)
	}
	if p.Src != packet.IP4(seedtest.SNAT.To4()) || p.Dst != packet.IP4(seedtest.Server.To4()) {
		t.Errorf("%v -> %v, want SNAT %v -> server", p.Src, p.Dst, seedtest.SNAT)
	}

	reply := seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, seedtest.SNAT,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: p.SrcPort, TTL: 64, Payload: []byte("a")})
	back := h.run(flow.External, reply)
	wantTX(t, back, flow.Underlay)
	bf := back.Frame()
	seedtest.VerifyOuterUDP(t, bf)
	pkt := seedtest.Decode(bf)
	outer := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !outer.DstIP.Equal(seedtest.Chassis) {
		t.Errorf("outer dst %v, want node01 %v", outer.DstIP, seedtest.Chassis)
	}
	g := bf[14+20+8:]
	vni := uint32(g[4])<<16 | uint32(g[5])<<8 | uint32(g[6])
	opt := g[8+4 : 8+8]
	if vni != dgpSwitchKey || !bytes.Equal(opt, []byte{0, dgpSw1DRKey, 0, dgpVMKey}) {
		t.Errorf("VNI %d option %x, want sw1's key %d and (sw1-dr %d << 16 | vm1 %d)", vni, opt, dgpSwitchKey, dgpSw1DRKey, dgpVMKey)
	}
	inner := bf[58:]
	var ip packet.Parsed
	if ip.Decode(inner) != packet.OK {
		t.Fatal("reply's inner frame does not parse")
	}
	seedtest.CheckChecksums(t, inner)
	ie := packet.Ethernet(inner)
	if ie.Src() != packet.MAC(seedtest.MACDRSw1) || ie.Dst() != packet.MAC(seedtest.MACVM) {
		t.Errorf("inner eth %v -> %v, want dr-sw1 -> vm1", ie.Src(), ie.Dst())
	}
	if ip.Dst != packet.IP4(seedtest.VM.To4()) || ip.DstPort != 5555 || ip.TTL != 63 {
		t.Errorf("reply to %v:%d TTL %d, want vm1:5555 with one router hop (TTL 63)", ip.Dst, ip.DstPort, ip.TTL)
	}

	udp.SPort = 5556
	wantDrop(t, h.run(flow.Underlay, dgpEgress(t, dgpRouterKey, 2, udp)), DropGeneveOutport)
	wantDrop(t, h.run(flow.Underlay, dgpEgress(t, 77, dgpCRKey, udp)), DropNoRouter)
	// dr's tenant port is no join port: sw1's VNI to dr-sw1's MAC is not
	// a gateway router's traffic.
	tenant := seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, dgpSwitchKey, dgpVMKey, dgpSw1DRKey,
		seedtest.InnerIPv4(t, seedtest.MACVM, seedtest.MACDRSw1, seedtest.VM, seedtest.Server, udp))
	wantDrop(t, h.run(flow.Underlay, tenant), DropNoRouter)
}

// TestDistributedGatewayPortPlan: the offload plan of a redirected flow
// matches the pipeline: no TTL decrement out, one router hop back, and
// the reverse key is what the hypervisor sends (dr's key, next hop MAC).
func TestDistributedGatewayPortPlan(t *testing.T) {
	h := newHarness(t, seedtest.Example("distributed-gateway.yaml"), conntrack.Config{})
	sink := &recordSink{}
	h.pl.sink = sink
	out := h.run(flow.Underlay, dgpEgress(t, dgpRouterKey, dgpCRKey, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53}))
	wantTX(t, out, flow.External)
	var op packet.Parsed
	op.Decode(out.Frame())
	wantTX(t, h.run(flow.External, seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, seedtest.SNAT,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: op.SrcPort, TTL: 64})), flow.Underlay)
	if len(sink.got) == 0 {
		t.Fatal("no offload candidate")
	}
	fwd, rev, err := h.pl.PlanFlow(sink.got[0])
	if err != nil {
		t.Fatal(err)
	}
	if !fwd.Decap || fwd.Encap || fwd.OutPort != flow.External || fwd.TTLDec != 0 || fwd.Outport != dgpCRKey ||
		fwd.EthSrc != packet.MAC(seedtest.MACGRExt) || fwd.EthDst != packet.MAC(seedtest.MACNextHop) || fwd.NATSrc != op.Src {
		t.Fatalf("fwd action %+v", fwd)
	}
	wantRev := flow.Key{InPort: flow.External, Src: op.Dst, Dst: op.Src, SrcPort: op.DstPort, DstPort: op.SrcPort, Proto: packet.ProtoUDP}
	if rev.Key != wantRev || !rev.Encap || rev.TTLDec != 1 || rev.Outer.VNI != dgpSwitchKey ||
		rev.Outer.InPort != dgpSw1DRKey || rev.Outer.OutPort != dgpVMKey || rev.EthSrc != packet.MAC(seedtest.MACDRSw1) {
		t.Fatalf("rev action %+v", rev)
	}

	// The other way round: a flow first seen from outside (its reply is
	// redirected by the hypervisor) plans its reverse key as the
	// hypervisor sends it: dr's key, the next hop's MAC.
	back := h.run(flow.External, seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, seedtest.SNAT,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: op.SrcPort, TTL: 64}))
	wantTX(t, back, flow.Underlay)
	var c flow.Candidate
	for _, g := range sink.got {
		if g.Key.InPort == flow.External {
			c = g
		}
	}
	if c.Key.InPort != flow.External {
		t.Fatal("no candidate from the external side")
	}
	fwd2, rev2, err := h.pl.PlanFlow(c)
	if err != nil {
		t.Fatal(err)
	}
	want := flow.Key{InPort: flow.Underlay, VNI: dgpRouterKey, InnerDst: packet.MAC(seedtest.MACNextHop),
		Src: packet.IP4(seedtest.VM.To4()), Dst: packet.IP4(seedtest.Server.To4()), SrcPort: 5555, DstPort: 53, Proto: packet.ProtoUDP}
	if rev2.Key != want || fwd2.Key.InPort != flow.External {
		t.Fatalf("reverse key %+v, want %+v", rev2.Key, want)
	}
}

// recordingNeighbors is a static table that records Lookup's misses (the
// kernel table queues a resolution for each).
type recordingNeighbors struct {
	route.StaticNeighbors
	asked []packet.IP4
}

func (n *recordingNeighbors) Lookup(ip packet.IP4) (packet.MAC, bool) {
	m, ok := n.StaticNeighbors[ip]
	if !ok {
		n.asked = append(n.asked, ip)
	}
	return m, ok
}

// TestDistributedGatewayPortARP: a hypervisor's router without a
// MAC_Binding for an external address sends an ARP request out of its
// distributed gateway port, redirected to us; xgw asks the kernel for the
// address (whose answer its OVN controller records in MAC_Binding) and
// sends nothing.
func TestDistributedGatewayPortARP(t *testing.T) {
	h := newHarness(t, seedtest.Example("distributed-gateway.yaml"), conntrack.Config{})
	neigh := &recordingNeighbors{StaticNeighbors: harnessNeighbors()}
	h.pl.neigh = neigh
	req := func(target net.IP, outport uint16) []byte {
		a := seedtest.Serialize(t, &layers.Ethernet{SrcMAC: seedtest.MACGRExt, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: 1, SourceHwAddress: seedtest.MACGRExt, SourceProtAddress: []byte{172, 31, 5, 230}, DstHwAddress: make([]byte, 6), DstProtAddress: target.To4()})
		return seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, dgpRouterKey, 1, outport, a)
	}
	wantDrop(t, h.run(flow.Underlay, req(net.IP{172, 31, 5, 9}, dgpCRKey)), DropNeighMiss)
	if len(neigh.asked) != 1 || neigh.asked[0] != packet.MustIP4("172.31.5.9") {
		t.Fatalf("kernel asked for %v, want 172.31.5.9", neigh.asked)
	}
	wantDrop(t, h.run(flow.Underlay, req(net.IP{172, 31, 5, 1}, dgpCRKey)), DropARP)    // known: its MAC_Binding follows
	wantDrop(t, h.run(flow.Underlay, req(net.IP{192, 0, 2, 7}, dgpCRKey)), DropARP)     // not on dr-ext's network
	wantDrop(t, h.run(flow.Underlay, req(net.IP{172, 31, 5, 9}, 2)), DropGeneveOutport) // not to cr-dr-ext
	if len(neigh.asked) != 1 {
		t.Fatalf("kernel asked for %v, want only the first", neigh.asked)
	}
}

// TestDistributedGatewayPortHairpin: vm1 to vm2's floating IP through
// dr's gateway port: OVN's gateway chassis loops it back into dr
// (lr_out_egr_loop): DNAT to vm2, SNAT of vm1 to the SNAT address, a
// second routing (TTL 62), onto sw1 to vm2's chassis; vm2's answer to the
// SNAT address, redirected again, goes back to vm1 from the floating IP.
func TestDistributedGatewayPortHairpin(t *testing.T) {
	h := newHarness(t, seedtest.Example("distributed-gateway.yaml"), conntrack.Config{})
	fip, vm2 := net.IP{123, 123, 123, 124}, net.IP{10, 199, 100, 11}
	vm2MAC := seedtest.MustHW("00:00:19:91:00:11")
	inner := seedtest.InnerIPv4(t, seedtest.MACGRExt, seedtest.MACNextHop, seedtest.VM, fip, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 7000, DPort: 80})
	out := h.run(flow.Underlay, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, dgpRouterKey, 1, dgpCRKey, inner))
	wantTX(t, out, flow.Underlay)
	f := out.Frame()
	var ip packet.Parsed
	if ip.Decode(f[58:]) != packet.OK {
		t.Fatal("inner does not parse")
	}
	seedtest.CheckChecksums(t, f[58:])
	if ip.Src != packet.IP4(seedtest.SNAT.To4()) || ip.Dst != packet.IP4(vm2.To4()) || ip.TTL != 62 ||
		packet.Ethernet(f[58:]).Dst() != packet.MAC(vm2MAC) {
		t.Fatalf("hairpin out: %v -> %v TTL %d eth dst %v; want SNAT -> vm2, TTL 62", ip.Src, ip.Dst, ip.TTL, packet.Ethernet(f[58:]).Dst())
	}
	ans := seedtest.InnerIPv4(t, seedtest.MACGRExt, seedtest.MACNextHop, vm2, seedtest.SNAT, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 80, DPort: ip.SrcPort})
	back := h.run(flow.Underlay, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, dgpRouterKey, 1, dgpCRKey, ans))
	wantTX(t, back, flow.Underlay)
	var bp packet.Parsed
	if bp.Decode(back.Frame()[58:]) != packet.OK {
		t.Fatal("answer does not parse")
	}
	if bp.Src != packet.IP4(fip.To4()) || bp.Dst != packet.IP4(seedtest.VM.To4()) || bp.DstPort != 7000 {
		t.Fatalf("hairpin answer %v:%d -> %v:%d, want the floating IP -> vm1:7000", bp.Src, bp.SrcPort, bp.Dst, bp.DstPort)
	}
}

// TestSetTopologyAsksNeighbors: a topology swap asks the neighbour table
// for the chassis VTEPs and external next hops it does not know, so that
// the first reply toward a chassis is not dropped for want of its MAC.
func TestSetTopologyAsksNeighbors(t *testing.T) {
	h := newHarness(t, seedtest.Example("distributed-gateway.yaml"), conntrack.Config{})
	neigh := &recordingNeighbors{StaticNeighbors: route.StaticNeighbors{}}
	h.pl.neigh = neigh
	if err := h.pl.SetTopology(h.topo); err != nil {
		t.Fatal(err)
	}
	want := []packet.IP4{packet.MustIP4("172.31.1.21"), seedtest.NextHop}
	if !slices.Equal(neigh.asked, want) {
		t.Fatalf("asked %v, want the chassis and the next hop %v", neigh.asked, want)
	}
}

// TestDistributedGatewayPortZeroAllocs: an established flow through a
// distributed gateway port, both directions, costs no allocation per
// batch.
func TestDistributedGatewayPortZeroAllocs(t *testing.T) {
	h := newHarness(t, seedtest.Example("distributed-gateway.yaml"), conntrack.Config{})
	fwd := dgpEgress(t, dgpRouterKey, dgpCRKey, seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53})
	out := h.run(flow.Underlay, fwd)
	wantTX(t, out, flow.External)
	var p packet.Parsed
	p.Decode(out.Frame())
	back := seedtest.InnerIPv4(t, seedtest.MACNextHop, seedtest.MACGRExt, seedtest.Server, seedtest.SNAT,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53, DPort: p.SrcPort, TTL: 64})
	frames := [][]byte{fwd, back}
	ports := []flow.Port{flow.Underlay, flow.External}
	bufs := [][]byte{make([]byte, 2048), make([]byte, 2048)}
	batch := make([]Packet, 2)
	allocs := testing.AllocsPerRun(200, func() {
		for i, f := range frames {
			copy(bufs[i][headroom:], f)
			batch[i] = Packet{Buf: bufs[i], Off: headroom, Len: len(f), InPort: ports[i]}
		}
		h.w.Process(batch)
	})
	for i, r := range batch {
		if r.Verdict != VerdictTX || r.OutPort != 1-ports[i] {
			t.Fatalf("slot %d: %v %v out %v", i, r.Verdict, r.Reason, r.OutPort)
		}
	}
	if allocs != 0 {
		t.Fatalf("the redirected path allocates %v per batch", allocs)
	}
}

// TestRedirectedTTLZeroDropped: a redirected packet already carries the
// hypervisor router's TTL decrement; one that arrives with TTL 0 (a real
// OVN router never sends it, a spoofing chassis can) must not be
// forwarded (RFC 1812 5.3.1) but dropped, counted as DropTTL.
func TestRedirectedTTLZeroDropped(t *testing.T) {
	h := newHarness(t, seedtest.Example("distributed-gateway.yaml"), conntrack.Config{})
	inner := seedtest.InnerIPv4(t, seedtest.MACGRExt, seedtest.MACNextHop, seedtest.VM, seedtest.Server,
		seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 5555, DPort: 53, TTL: 1, Payload: []byte("q")})
	var p packet.Parsed
	if p.Decode(inner) != packet.OK {
		t.Fatal("inner does not parse")
	}
	p.IP(inner).DecTTL() // TTL 0, checksum kept valid
	before := h.pl.Stats().Drops[DropTTL]
	out := h.run(flow.Underlay, seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, dgpRouterKey, 1, dgpCRKey, inner))
	if out.Verdict == VerdictTX {
		var o packet.Parsed
		o.Decode(out.Frame())
		t.Fatalf("a TTL %d datagram was forwarded on %v", o.TTL, out.OutPort)
	}
	wantDrop(t, out, DropTTL)
	if got := h.pl.Stats().Drops[DropTTL] - before; got != 1 {
		t.Errorf("Drops[%v] grew by %d, want 1", DropTTL, got)
	}
}
