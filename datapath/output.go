package datapath

import (
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// routerHop performs the gateway router's hop for pkt, whose frame (starting
// at pkt.Off) is the decoded packet p: TTL decrement, then either L2 toward
// the external next hop or the distributed router's hop and Geneve encap
// toward a chassis. It reports whether the packet was sent.
func (w *Worker) routerHop(pl *plan, pkt *Packet, frame []byte, p *packet.Parsed, hop route.Hop) bool {
	if p.TTL <= 1 {
		w.drop(pkt, DropTTL)
		return false
	}
	ip := p.IP(frame)
	ip.DecTTL()
	p.TTL--
	if hop.Port.External {
		mac, ok := w.p.neigh.Lookup(hop.NextHop)
		if !ok {
			w.drop(pkt, DropNeighMiss)
			return false
		}
		eth := packet.Ethernet(frame)
		eth.SetSrc(hop.Port.MAC)
		eth.SetDst(mac)
		w.tx(pkt, flow.External)
		return true
	}
	w.planJoin = hop.Port
	return w.toChassis(pl, pkt, frame, p, hop)
}

// toChassis continues a packet that the gateway router sent onto a join
// switch: the next hop is a distributed router port, so the gateway runs
// that router's hop as OVN would on any chassis, then encapsulates the
// frame to the chassis hosting the destination logical port.
func (w *Worker) toChassis(pl *plan, pkt *Packet, frame []byte, p *packet.Parsed, hop route.Hop) bool {
	topo := pl.topo
	if hop.Port.Switch == nil {
		w.drop(pkt, DropNoRoute)
		return false
	}
	drp, ok := topo.RouterPortByIP(hop.Port.Switch, hop.NextHop)
	if !ok || !drp.Router.Distributed {
		w.drop(pkt, DropNoRoute)
		return false
	}
	hop2, ok := drp.Router.Route(p.Dst)
	if !ok || hop2.Port.Switch == nil {
		w.drop(pkt, DropNoRoute)
		return false
	}
	lp, ok := topo.LogicalPort(hop2.Port.Switch, hop2.NextHop)
	if !ok {
		w.drop(pkt, DropNoBinding)
		return false
	}
	if p.TTL <= 1 {
		w.drop(pkt, DropTTL)
		return false
	}
	p.IP(frame).DecTTL()
	p.TTL--
	eth := packet.Ethernet(frame)
	eth.SetSrc(hop2.Port.MAC)
	eth.SetDst(lp.MAC)
	return w.encap(pl, pkt, p, lp.Chassis, hop2.Port.Switch.Key, hop2.Port.Key, lp.Key)
}

// encap prepends the outer headers to the frame at pkt.Off and sends it to
// the chassis at vtep on the underlay.
func (w *Worker) encap(pl *plan, pkt *Packet, p *packet.Parsed, vtep packet.IP4, vni uint32, inport, outport uint16) bool {
	mac, ok := w.p.neigh.Lookup(vtep)
	if !ok {
		w.drop(pkt, DropNeighMiss)
		return false
	}
	return w.encapTo(pl, pkt, mac, vtep, geneve.SourcePort(geneve.FlowHash(p.Src, p.Dst, p.SrcPort, p.DstPort, p.Proto)), vni, inport, outport)
}

// encapTo writes the outer headers for a known outer destination.
func (w *Worker) encapTo(pl *plan, pkt *Packet, dstMAC packet.MAC, vtep packet.IP4, sport uint16, vni uint32, inport, outport uint16) bool {
	topo := pl.topo
	if pkt.Off < geneve.EncapLen {
		w.drop(pkt, DropHeadroom)
		return false
	}
	e := &w.encp
	*e = geneve.EncapParams{
		SrcMAC: w.p.underlayMAC, DstMAC: dstMAC,
		Src: topo.VTEP, Dst: vtep, TTL: topo.GeneveTTL, DF: true,
		SrcPort: sport,
		VNI:     vni, InPort: inport, OutPort: outport,
		Checksum: topo.GeneveChecksum,
	}
	pkt.Off = geneve.Encap(pkt.Buf, pkt.Off, pkt.Len, e)
	pkt.Len += geneve.EncapLen
	w.tx(pkt, flow.Underlay)
	return true
}
