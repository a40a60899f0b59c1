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

// TestAdopt6Shapes adopts the three shapes of IPv6 flow of
// lab-dual-stack.yaml's gr1 (zones 6 and 16) into Table6: a VM's SNATed
// (NAT66, port translated) flow gets its translation in the SNAT zone; a
// flow opened from outside to the dnat_and_snat address 2001:db8:5::20
// gets it in the DNAT zone (as ingress6 commits it), and the pipeline
// then plans both its directions from the rebuilt connections; a routed
// flow is untranslated in both.
func TestAdopt6Shapes(t *testing.T) {
	cfg, err := config.Load("../examples/lab-dual-stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := route.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const dz, sz = 6, 16
	gr := packet.MustMAC("ae:cd:cd:04:d7:d4")
	ext := packet.MustIP6("2001:db8:5::99")
	type zoneWant struct {
		reply conntrack.Tuple6
		nat   conntrack.State
	}
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMPv6} {
		sport, dport, natPort := uint16(40000), uint16(80), uint16(1025)
		if proto == packet.ProtoICMPv6 {
			sport, dport, natPort = 777, 777, 1025
		}
		ct6, _ := conntrack.NewTable6(conntrack.Config{Capacity: 64})
		a := &adopter6{topo: topo, ct: ct6, now: func() int64 { return 1e9 }}
		check := func(name string, conns [2]flow.Conn, dir conntrack.Dir, want [2]zoneWant) {
			t.Helper()
			for i, z := range [2]uint16{dz, sz} {
				w := want[i]
				w.reply.Zone = z
				ci, ok := ct6.Get(conns[i].Handle)
				if !ok || ci.Reply != w.reply || ci.State&(conntrack.SrcNAT|conntrack.DstNAT) != w.nat ||
					ci.State&conntrack.Established == 0 || conns[i].Dir != dir {
					t.Fatalf("proto %d %s zone %d: %+v (live %v, dir %v)\nwant reply %v nat %v dir %v, established",
						proto, name, z, ci, ok, conns[i].Dir, w.reply, w.nat, dir)
				}
				if proto == packet.ProtoTCP && ci.TCP != conntrack.TCPEstablished {
					t.Fatalf("%s: adopted TCP in state %s", name, ci.TCP)
				}
			}
		}

		// SNATed: vm1 through snat fd00:199:100::/64 -> 2001:db8:113::10.
		vm1, snat := packet.MustIP6("fd00:199:100::10"), packet.MustIP6("2001:db8:113::10")
		k := flow.Key6{InPort: flow.Underlay, VNI: 1, InnerDst: gr, Src: vm1, Dst: ext, SrcPort: sport, DstPort: dport, Proto: proto}
		fwd := flow.Action6{Key: k, NATSrc: snat, NATDst: ext, NATSrcPort: natPort, NATDstPort: dport}
		if proto == packet.ProtoICMPv6 {
			fwd.NATDstPort = natPort // the echo id is both ports
		}
		conns, err := a.adopt(fwd)
		if err != nil {
			t.Fatalf("proto %d SNAT: %v", proto, err)
		}
		in := conntrack.Tuple6{Src: vm1, Dst: ext, SrcPort: sport, DstPort: dport, Proto: proto}
		out := conntrack.Tuple6{Src: ext, Dst: snat, SrcPort: fwd.NATDstPort, DstPort: natPort, Proto: proto}
		snatState := conntrack.SrcNAT
		if proto == packet.ProtoICMPv6 {
			snatState |= conntrack.DstNAT // the id, in both ports, is translated
		}
		check("SNAT", conns, conntrack.DirOrig, [2]zoneWant{{in.Reverse(), 0}, {out, snatState}})

		// DNATed: a peer opened it to vm2's dnat_and_snat address.
		vm2, fip := packet.MustIP6("fd00:199:100::11"), packet.MustIP6("2001:db8:5::20")
		svc, peer := uint16(80), uint16(40000)
		if proto == packet.ProtoICMPv6 {
			svc, peer = 778, 778
		}
		k = flow.Key6{InPort: flow.Underlay, VNI: 1, InnerDst: gr, Src: vm2, Dst: ext, SrcPort: svc, DstPort: peer, Proto: proto}
		fwd = flow.Action6{Key: k, NATSrc: fip, NATDst: ext, NATSrcPort: svc, NATDstPort: peer}
		if conns, err = a.adopt(fwd); err != nil {
			t.Fatalf("proto %d DNAT: %v", proto, err)
		}
		opened := conntrack.Tuple6{Src: ext, Dst: fip, SrcPort: peer, DstPort: svc, Proto: proto}
		back := conntrack.Tuple6{Src: vm2, Dst: ext, SrcPort: svc, DstPort: peer, Proto: proto}
		check("DNAT", conns, conntrack.DirReply, [2]zoneWant{{back, conntrack.DstNAT}, {opened.Reverse(), 0}})
		pipe, err := datapath.New(datapath.Config{Topology: topo, Conntrack: mustTable(t), Conntrack6: ct6,
			Neighbors:   route.StaticNeighbors{packet.MustIP4("192.0.2.2"): packet.MustMAC("0a:00:00:00:00:22")},
			Neighbors6:  route.StaticNeighbors6{ext: packet.MustMAC("0a:00:00:00:00:99"), packet.MustIP6("2001:db8:5::2"): packet.MustMAC("0a:00:00:00:00:98")},
			UnderlayMAC: packet.MustMAC("0a:00:00:00:00:01"), Clock: func() int64 { return 2e9 }})
		if err != nil {
			t.Fatal(err)
		}
		pf, pr, err := pipe.PlanFlow6(flow.Candidate6{Key: k, Conns: conns})
		if err != nil {
			t.Fatalf("proto %d: the pipeline does not forward the adopted DNATed flow: %v", proto, err)
		}
		if pf.NATSrc != fip || pf.NATDst != ext || pf.NATSrcPort != svc || pr.Key.Dst != fip || pr.NATDst != vm2 || pr.NATDstPort != svc {
			t.Fatalf("proto %d: pipeline plans\n%+v\n%+v", proto, pf, pr)
		}

		// Routed: vmr's prefix has no NAT66 rule.
		vmr := packet.MustIP6("2001:db8:200::20")
		k = flow.Key6{InPort: flow.Underlay, VNI: 1, InnerDst: gr, Src: vmr, Dst: ext, SrcPort: sport + 1, DstPort: dport, Proto: proto}
		if proto == packet.ProtoICMPv6 {
			k.DstPort = k.SrcPort
		}
		fwd = flow.Action6{Key: k, NATSrc: vmr, NATDst: ext, NATSrcPort: k.SrcPort, NATDstPort: k.DstPort}
		if conns, err = a.adopt(fwd); err != nil {
			t.Fatalf("proto %d routed: %v", proto, err)
		}
		in = conntrack.Tuple6{Src: vmr, Dst: ext, SrcPort: k.SrcPort, DstPort: k.DstPort, Proto: proto}
		check("routed", conns, conntrack.DirOrig, [2]zoneWant{{in.Reverse(), 0}, {in.Reverse(), 0}})
	}
}

func mustTable(t *testing.T) *conntrack.Table {
	ct, err := conntrack.NewTable(conntrack.Config{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	return ct
}
