package gateway

import (
	"testing"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/conntrack"
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
			if proto == packet.ProtoTCP && ci.TCPState != "ESTABLISHED" {
				t.Fatalf("adopted TCP in state %s", ci.TCPState)
			}
		}
		reply := conntrack.Tuple{Src: srv, Dst: snat, SrcPort: dport, DstPort: sport, Proto: proto, Zone: 16}
		m, ok := ct.Peek(reply, 2e9)
		if !ok || m.Dir != conntrack.DirReply || m.Orig.Src != vm {
			t.Fatalf("proto %d: the reply to the SNAT address is not translated back: %+v %v", proto, m, ok)
		}
	}
}
