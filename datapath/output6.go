package datapath

import (
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// routerHop6 is routerHop for IPv6: hop-limit decrement, then out of the
// external port toward the next hop, or the distributed router's hop and
// Geneve (over the IPv4 underlay) toward the VM's chassis.
func (w *Worker) routerHop6(c *pktCtx, frame []byte, hop route.Hop6) Drop {
	p := &c.parsed
	if p.TTL <= 1 {
		return DropTTL
	}
	packet.IPv6(frame[p.L3Off:]).DecHopLimit()
	p.TTL--
	if hop.Port.External {
		return w.toExternal6(c, frame, hop)
	}
	return w.toChassis6(c, frame, hop)
}

// toExternal6 sends the routed packet out of the external port toward the
// next hop's MAC, which the kernel resolves by neighbour discovery, or
// holds it until the MAC is known (hold.go, as toExternal does for IPv4).
func (w *Worker) toExternal6(c *pktCtx, frame []byte, hop route.Hop6) Drop {
	if w.p.neigh6 == nil {
		return DropNeighMiss
	}
	eth := packet.Ethernet(frame)
	eth.SetSrc(hop.Port.MAC)
	if w.hold != nil && w.hold.held > 0 && !c.planning {
		// Behind earlier packets for this next hop, to keep the order.
		if k := hopKey6(hop.NextHop); w.hold.holdingKey(k) && w.hold.addKey(k, frame, c.now) == holdOK {
			return w.held(c)
		}
	}
	mac, ok := w.p.neigh6.Lookup6(hop.NextHop)
	if !ok {
		return w.holdFrame(c, frame, hopKey6(hop.NextHop))
	}
	eth.SetDst(mac)
	tx(c.pkt, flow.External)
	return DropNone
}

// toChassis6 is toChassis for IPv6: the distributed router's hop (or none
// when the gateway router owns the tenant switch's port), the VM found by
// its IPv6 address.
func (w *Worker) toChassis6(c *pktCtx, frame []byte, hop route.Hop6) Drop {
	topo, p := c.pl.topo, &c.parsed
	if hop.Port.Switch == nil {
		return DropNoRoute
	}
	if hop.Port.Router.Key != 0 {
		lp, ok := topo.LogicalPort6(hop.Port.Switch, hop.NextHop)
		if !ok {
			return DropNoBinding
		}
		return w.toLogicalPort(c, frame, hop.Port, lp)
	}
	drp, ok := topo.RouterPortByIP6(hop.Port.Switch, hop.NextHop)
	if !ok || !drp.Router.Distributed {
		return DropNoRoute
	}
	hop2, ok := drp.Router.Route6(p.Dst6)
	if !ok || hop2.Port.Switch == nil {
		return DropNoRoute
	}
	lp, ok := topo.LogicalPort6(hop2.Port.Switch, hop2.NextHop)
	if !ok {
		return DropNoBinding
	}
	if p.TTL <= 1 {
		return DropTTL
	}
	packet.IPv6(frame[p.L3Off:]).DecHopLimit()
	p.TTL--
	return w.toLogicalPort(c, frame, hop2.Port, lp)
}
