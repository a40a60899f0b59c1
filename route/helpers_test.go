package route

import (
	"path/filepath"
	"testing"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/packet"
)

var (
	ip  = packet.MustIP4
	mac = packet.MustMAC
)

func build(t testing.TB, example string) *Topology {
	t.Helper()
	c, err := config.Load(filepath.Join("..", "examples", example))
	if err != nil {
		t.Fatal(err)
	}
	topo, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func router(t testing.TB, topo *Topology, name string) *Router {
	t.Helper()
	r, ok := topo.RouterByName(name)
	if !ok {
		t.Fatalf("no router %q", name)
	}
	return r
}

// delivery is where the gateway sends a packet for a VM after running a
// gateway router's hop and then the distributed router's: the whole
// ingress walk of DESIGN.md, as the pipeline does it.
type delivery struct {
	vni              uint32
	inport, outport  uint16
	chassis          packet.IP4
	srcMAC, dstMAC   packet.MAC
	gwPort, drInPort string
}

func deliver(t *testing.T, topo *Topology, gr *Router, dst packet.IP4) delivery {
	t.Helper()
	hop, ok := gr.Route(dst)
	if !ok || hop.Port.External || hop.Port.Switch == nil {
		t.Fatalf("%s.Route(%s) = %+v, %v; want a join port", gr.Name, dst, hop, ok)
	}
	drp, ok := topo.RouterPortByIP(hop.Port.Switch, hop.NextHop)
	if !ok || !drp.Router.Distributed {
		t.Fatalf("RouterPortByIP(%s, %s) = %v, %v; want a distributed router's port", hop.Port.Switch.Name, hop.NextHop, drp, ok)
	}
	if peer, ok := topo.PeerRouter(hop); !ok || peer != drp {
		t.Fatalf("PeerRouter(%+v) = %v, %v; want %s", hop, peer, ok, drp.Name)
	}
	hop2, ok := drp.Router.Route(dst)
	if !ok || hop2.NextHop != dst || hop2.Port.Switch == nil {
		t.Fatalf("%s.Route(%s) = %+v, %v; want a connected switch port", drp.Router.Name, dst, hop2, ok)
	}
	lp, ok := topo.LogicalPort(hop2.Port.Switch, hop2.NextHop)
	if !ok {
		t.Fatalf("LogicalPort(%s, %s) not found", hop2.Port.Switch.Name, dst)
	}
	return delivery{
		vni: hop2.Port.Switch.Key, inport: hop2.Port.Key, outport: lp.Key, chassis: lp.Chassis,
		srcMAC: hop2.Port.MAC, dstMAC: lp.MAC, gwPort: hop.Port.Name, drInPort: drp.Name,
	}
}
