package datapath

import (
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// routerHop performs the gateway router's hop for the packet, whose frame
// (starting at pkt.Off) is c.parsed: TTL decrement, then either L2 toward
// the external next hop or the distributed router's hop and Geneve encap
// toward a chassis.
func (w *Worker) routerHop(c *pktCtx, frame []byte, hop route.Hop) Drop {
	p := &c.parsed
	if p.TTL <= 1 {
		return DropTTL
	}
	p.IP(frame).DecTTL()
	p.TTL--
	if hop.Port.External {
		return w.toExternal(c, frame, hop)
	}
	if c.planning {
		c.join = hop.Port
	}
	return w.toChassis(c, frame, hop)
}

// toExternal sends the routed packet out of the external port toward the
// next hop's MAC, or holds it until the MAC is known.
func (w *Worker) toExternal(c *pktCtx, frame []byte, hop route.Hop) Drop {
	eth := packet.Ethernet(frame)
	eth.SetSrc(hop.Port.MAC)
	if w.hold != nil && w.hold.held > 0 && !c.planning && w.hold.holding(hop.NextHop) {
		// Earlier packets wait for this next hop: queue behind them
		// so a flow's packets leave in order (or go out now if the
		// queue is full and the MAC known).
		if w.hold.add(hop.NextHop, frame, c.now) == holdOK {
			return w.held(c)
		}
	}
	mac, ok := w.p.neigh.Lookup(hop.NextHop)
	if !ok {
		return w.holdFrame(c, frame, hop.NextHop)
	}
	eth.SetDst(mac)
	tx(c.pkt, flow.External)
	return DropNone
}

// toChassis continues a packet that the gateway router sent onto a join
// switch: the next hop is a distributed router port, so the gateway runs
// that router's hop as OVN would on any chassis, then encapsulates the
// frame to the chassis hosting the destination logical port.
func (w *Worker) toChassis(c *pktCtx, frame []byte, hop route.Hop) Drop {
	topo, p := c.pl.topo, &c.parsed
	if hop.Port.Switch == nil {
		return DropNoRoute
	}
	if hop.Port.Router.Key != 0 {
		// A router with a distributed gateway port routes its return
		// traffic onto its tenant switches itself: one hop, done.
		lp, ok := topo.LogicalPort(hop.Port.Switch, hop.NextHop)
		if !ok {
			return DropNoBinding
		}
		return w.toLogicalPort(c, frame, hop.Port, lp)
	}
	drp, ok := topo.RouterPortByIP(hop.Port.Switch, hop.NextHop)
	if !ok || !drp.Router.Distributed {
		return DropNoRoute
	}
	hop2, ok := drp.Router.Route(p.Dst)
	if !ok || hop2.Port.Switch == nil {
		return DropNoRoute
	}
	lp, ok := topo.LogicalPort(hop2.Port.Switch, hop2.NextHop)
	if !ok {
		return DropNoBinding
	}
	if p.TTL <= 1 {
		return DropTTL
	}
	p.IP(frame).DecTTL()
	p.TTL--
	return w.toLogicalPort(c, frame, hop2.Port, lp)
}

// toLogicalPort delivers a packet that a router sent out of rp onto a
// tenant switch to the VM lp there: L2 from the router port to the VM,
// Geneve to its chassis with the switch's key, option (router port's key
// << 16 | VM's key).
func (w *Worker) toLogicalPort(c *pktCtx, frame []byte, rp *route.RouterPort, lp *route.LogicalPort) Drop {
	p := &c.parsed
	eth := packet.Ethernet(frame)
	eth.SetSrc(rp.MAC)
	eth.SetDst(lp.MAC)
	mac, ok := w.p.neigh.Lookup(lp.Chassis)
	if !ok {
		return DropNeighMiss
	}
	sport := geneve.SourcePort(geneve.FlowHash(p.Src, p.Dst, p.SrcPort, p.DstPort, p.Proto))
	return w.encap(c, mac, lp.Chassis, sport, rp.Switch.Key, rp.Key, lp.Key)
}

// encap prepends the outer headers to the frame at pkt.Off and sends it to
// the chassis at vtep (MAC dstMAC) on the underlay.
func (w *Worker) encap(c *pktCtx, dstMAC packet.MAC, vtep packet.IP4, sport uint16, vni uint32, inport, outport uint16) Drop {
	pkt, topo := c.pkt, c.pl.topo
	if pkt.Off < geneve.EncapLen {
		return DropHeadroom
	}
	e := &c.outer
	*e = geneve.EncapParams{
		SrcMAC: w.p.underlayMAC, DstMAC: dstMAC,
		Src: topo.VTEP, Dst: vtep, TTL: topo.GeneveTTL, DF: true,
		SrcPort: sport,
		VNI:     vni, InPort: inport, OutPort: outport,
		Checksum: topo.GeneveChecksum,
	}
	pkt.Off = geneve.Encap(pkt.Buf, pkt.Off, pkt.Len, e)
	pkt.Len += geneve.EncapLen
	tx(pkt, flow.Underlay)
	return DropNone
}
