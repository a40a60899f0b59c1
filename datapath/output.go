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
		return w.holdFrame(c, frame, hopKey4(hop.NextHop))
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
// << 16 | VM's key), over the underlay of the chassis' encap IP (its
// next hop resolved by that family). The outer source port hashes the
// inner flow of either family.
func (w *Worker) toLogicalPort(c *pktCtx, frame []byte, rp *route.RouterPort, lp *route.LogicalPort) Drop {
	p := &c.parsed
	eth := packet.Ethernet(frame)
	eth.SetSrc(rp.MAC)
	eth.SetDst(lp.MAC)
	var h uint32
	if p.Family == 6 {
		h = geneve.FlowHash6(p.Src6, p.Dst6, p.SrcPort, p.DstPort, p.Proto)
	} else {
		h = geneve.FlowHash(p.Src, p.Dst, p.SrcPort, p.DstPort, p.Proto)
	}
	to := tunnelEnd{ip4: lp.Chassis}
	if lp.Chassis.IsZero() {
		// A chassis on the IPv6 underlay, its VTEP resolved by ND.
		if w.p.neigh6 == nil || lp.Chassis6.IsUnspecified() || c.pl.topo.VTEP6.IsUnspecified() {
			return DropUnsupported
		}
		mac, ok := w.p.neigh6.Lookup6(lp.Chassis6)
		if !ok {
			return DropNeighMiss
		}
		to.mac, to.ip6 = mac, lp.Chassis6
	} else {
		mac, ok := w.p.neigh.Lookup(lp.Chassis)
		if !ok {
			return DropNeighMiss
		}
		to.mac = mac
	}
	return w.encap(c, &to, geneve.SourcePort(h), rp.Switch.Key, rp.Key, lp.Key)
}

// tunnelEnd is where encap sends a frame: a chassis' VTEP, on the IPv4
// underlay (ip4) or, when ip4 is zero, on the IPv6 one (ip6), and mac,
// the underlay next hop toward it.
type tunnelEnd struct {
	mac packet.MAC
	ip4 packet.IP4
	ip6 packet.IP6
}

// backTo is the tunnel end that sent the decapsulated packet d, for
// answers that go straight back to it (ARP, ND).
func backTo(d *geneve.Decapped) tunnelEnd {
	if d.IPv6 {
		return tunnelEnd{mac: d.OuterSrcMAC, ip6: d.OuterSrc6}
	}
	return tunnelEnd{mac: d.OuterSrcMAC, ip4: d.OuterSrc}
}

// encap prepends the outer headers to the frame at pkt.Off and sends it to
// the chassis at to on the underlay of its family: Ethernet/IPv4 from
// topo.VTEP (geneve.Encap), or Ethernet/IPv6 from topo.VTEP6 (Encap6).
//
// Only the IPv4 encap is recorded (c.outer) for flow.Derive: a packet
// sent over the IPv6 underlay is not learnt by the flow cache
// (c.underlay6), and an IPv4 one is not planned for offload (unsupported
// while planning: flow.Action encapsulates over IPv4 only). Inner IPv6
// is planned over either underlay (PlanFlow6 reads flow.Action6's outer
// header off the frame).
func (w *Worker) encap(c *pktCtx, to *tunnelEnd, sport uint16, vni uint32, inport, outport uint16) Drop {
	pkt, topo := c.pkt, c.pl.topo
	if to.ip4.IsZero() {
		return w.encap6(c, to, sport, vni, inport, outport)
	}
	if pkt.Off < geneve.EncapLen {
		return DropHeadroom
	}
	e := &c.outer
	*e = geneve.EncapParams{
		SrcMAC: w.p.underlayMAC, DstMAC: to.mac,
		Src: topo.VTEP, Dst: to.ip4, TTL: topo.GeneveTTL, DF: true,
		SrcPort: sport,
		VNI:     vni, InPort: inport, OutPort: outport,
		Checksum: topo.GeneveChecksum,
	}
	pkt.Off = geneve.Encap(pkt.Buf, pkt.Off, pkt.Len, e)
	pkt.Len += geneve.EncapLen
	tx(pkt, flow.Underlay)
	return DropNone
}

// encap6 is encap's IPv6 underlay half.
func (w *Worker) encap6(c *pktCtx, to *tunnelEnd, sport uint16, vni uint32, inport, outport uint16) Drop {
	pkt, topo := c.pkt, c.pl.topo
	if topo.VTEP6.IsUnspecified() || to.ip6.IsUnspecified() {
		return DropUnsupported // no IPv6 VTEP of ours, or no chassis address
	}
	if c.planning && !c.v6 {
		return DropUnsupported // flow.Action encaps over IPv4 only (Action6 either)
	}
	if pkt.Off < geneve.EncapLen6 {
		return DropHeadroom
	}
	c.underlay6 = true // not learnt: c.outer does not describe it
	pkt.Off = geneve.Encap6(pkt.Buf, pkt.Off, pkt.Len, &geneve.EncapParams6{
		SrcMAC: w.p.underlayMAC, DstMAC: to.mac,
		Src: topo.VTEP6, Dst: to.ip6, HopLimit: topo.GeneveTTL,
		SrcPort: sport, VNI: vni, InPort: inport, OutPort: outport,
	})
	pkt.Len += geneve.EncapLen6
	tx(pkt, flow.Underlay)
	return DropNone
}
