package gateway

import (
	"testing"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// TestAdoptRebuildsConnections adopts the seed's flow as a restarted xgw
// would find it in the pinned fast path, and checks that the rebuilt
// connections are established and translate its replies.
func TestAdoptRebuildsConnections(t *testing.T) {
	cfg, err := config.Load("../examples/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := route.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMP} {
		ct, _ := conntrack.NewTable(conntrack.Config{Capacity: 64})
		a := &adopter{topo: topo, ct: ct, now: func() int64 { return 1e9 }}
		vm, srv, snat := packet.MustIP4("10.199.100.10"), packet.MustIP4("172.31.6.24"), packet.MustIP4("123.123.123.123")
		sport, dport := uint16(40000), uint16(80)
		if proto == packet.ProtoICMP {
			sport, dport = 777, 777
		}
		fwd := flow.Action{
			Key: flow.Key{InPort: flow.Underlay, VNI: 1, InnerDst: packet.MustMAC("ae:cd:cd:04:d7:d4"),
				Src: vm, Dst: srv, SrcPort: sport, DstPort: dport, Proto: proto},
			NATSrc: snat, NATDst: srv, NATSrcPort: sport, NATDstPort: dport,
		}
		conns, err := a.adopt(fwd)
		if err != nil {
			t.Fatalf("proto %d: %v", proto, err)
		}
		for i, c := range conns {
			ci, ok := ct.Get(c.Handle)
			if !ok || ci.State&conntrack.Established == 0 {
				t.Fatalf("proto %d zone slot %d: not established: %+v", proto, i, ci)
			}
			if proto == packet.ProtoTCP && ci.TCP != conntrack.TCPEstablished {
				t.Fatalf("adopted TCP in state %s", ci.TCP)
			}
		}
		reply := conntrack.Tuple{Src: srv, Dst: snat, SrcPort: dport, DstPort: sport, Proto: proto, Zone: 16}
		m, ok := ct.Peek(reply, 2e9)
		if !ok || m.Dir != conntrack.DirReply || m.Orig.Src != vm {
			t.Fatalf("proto %d: the reply to the SNAT address is not translated back: %+v %v", proto, m, ok)
		}
	}
}

// TestAdoptDNATedFlow adopts a flow to a floating IP (gr-b's
// dnat_and_snat 10.199.100.10 <-> 203.0.113.20 in two-tenants.yaml), opened
// from outside: the translation must land in the DNAT zone, the SNAT zone
// must hold the connection untranslated, as the pipeline makes them, and
// the pipeline must then forward both directions. A VM-opened flow whose
// source port was translated stays SNATed.
func TestAdoptDNATedFlow(t *testing.T) {
	cfg, err := config.Load("../examples/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := route.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vm, fip, ext := packet.MustIP4("10.199.100.10"), packet.MustIP4("203.0.113.20"), packet.MustIP4("198.51.100.9")
	const dz, sz = 7, 17
	neigh := route.StaticNeighbors{packet.MustIP4("172.31.5.1"): packet.MustMAC("0a:00:00:00:00:99"),
		packet.MustIP4("172.31.1.22"): packet.MustMAC("0a:00:00:00:00:22")}
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMP} {
		ct, _ := conntrack.NewTable(conntrack.Config{Capacity: 64})
		a := &adopter{topo: topo, ct: ct, now: func() int64 { return 1e9 }}
		svc, peer := uint16(80), uint16(40000) // the VM serves, the peer connects
		if proto == packet.ProtoICMP {
			svc, peer = 777, 777
		}
		key := flow.Key{InPort: flow.Underlay, VNI: 2, InnerDst: packet.MustMAC("ae:dd:dd:e4:9e:58"),
			Src: vm, Dst: ext, SrcPort: svc, DstPort: peer, Proto: proto}
		fwd := flow.Action{Key: key, NATSrc: fip, NATDst: ext, NATSrcPort: svc, NATDstPort: peer}
		conns, err := a.adopt(fwd)
		if err != nil {
			t.Fatalf("proto %d: %v", proto, err)
		}
		in := conntrack.Tuple{Src: ext, Dst: fip, SrcPort: peer, DstPort: svc, Proto: proto}
		back := conntrack.Tuple{Src: vm, Dst: ext, SrcPort: svc, DstPort: peer, Proto: proto}
		for i, want := range [2]struct {
			orig, reply conntrack.Tuple
			nat         conntrack.State
		}{{in, back, conntrack.DstNAT}, {in, in.Reverse(), 0}} {
			z := [2]uint16{dz, sz}[i]
			want.orig.Zone, want.reply.Zone = z, z
			ci, ok := ct.Get(conns[i].Handle)
			if !ok || ci.Orig != want.orig || ci.Reply != want.reply || ci.State&(conntrack.SrcNAT|conntrack.DstNAT) != want.nat {
				t.Fatalf("proto %d zone %d: %+v %v\nwant orig %v reply %v nat %v", proto, z, ci, ok, want.orig, want.reply, want.nat)
			}
			if ci.State&conntrack.Established == 0 || conns[i].Dir != conntrack.DirReply {
				t.Fatalf("proto %d zone %d: not established, or fwd (%v) not the reply direction: %+v", proto, z, conns[i].Dir, ci)
			}
		}
		// A packet each way, as the pipeline looks them up.
		for _, h := range []struct {
			t   conntrack.Tuple
			dir conntrack.Dir
		}{{in, conntrack.DirOrig}, {back, conntrack.DirReply}} {
			for _, z := range []uint16{dz, sz} {
				tp := h.t
				tp.Zone = z
				if z == sz && h.dir == conntrack.DirReply {
					tp.Src = fip // un-DNATed in the DNAT zone first
				}
				if m, ok := ct.Peek(tp, 2e9); !ok || m.Dir != h.dir {
					t.Fatalf("proto %d: %v missed or in the wrong direction: %+v %v", proto, tp, m, ok)
				}
			}
		}
		pipe, err := datapath.New(datapath.Config{Topology: topo, Conntrack: ct, Neighbors: neigh,
			UnderlayMAC: packet.MustMAC("0a:00:00:00:00:01"), Clock: func() int64 { return 2e9 }})
		if err != nil {
			t.Fatal(err)
		}
		pf, pr, err := pipe.PlanFlow(flow.Candidate{Key: key, Conns: conns})
		if err != nil {
			t.Fatalf("proto %d: the pipeline does not forward the adopted flow: %v", proto, err)
		}
		if pf.NATSrc != fip || pf.NATDst != ext || pf.NATSrcPort != svc || pr.Key.Dst != fip || pr.NATDst != vm || pr.NATDstPort != svc {
			t.Fatalf("proto %d: pipeline plans\n%+v\n%+v", proto, pf, pr)
		}

		// The VM opened this one and its port was translated: SNAT.
		fwd.Key.SrcPort, fwd.NATSrcPort = 41000, 1025
		if proto == packet.ProtoICMP {
			fwd.Key.DstPort, fwd.NATDstPort = 41000, 1025
		}
		if conns, err = a.adopt(fwd); err != nil {
			t.Fatalf("proto %d SNAT: %v", proto, err)
		}
		dci, _ := ct.Get(conns[0].Handle)
		sci, _ := ct.Get(conns[1].Handle)
		if dci.State&(conntrack.SrcNAT|conntrack.DstNAT) != 0 || sci.State&conntrack.SrcNAT == 0 || sci.Reply.Dst != fip || sci.Reply.DstPort != 1025 || conns[1].Dir != conntrack.DirOrig {
			t.Fatalf("proto %d: a VM-opened, port-translated flow was not rebuilt as SNAT:\n%+v\n%+v", proto, dci, sci)
		}
	}
}
