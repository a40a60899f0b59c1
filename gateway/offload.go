package gateway

import (
	"fmt"
	"net"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/metrics"
	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/offload"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// offloadConfig is the manager's configuration for this gateway.
func offloadConfig(o config.Offload, clock func() int64) offload.Config {
	c := offload.FromConfig(o)
	c.Clock = clock
	return c
}

// adopter rebuilds, after a restart, the conntrack connections of flows a
// previous xgw left in the pinned fast path, so that they are tracked,
// counted and expired again. fwd is an entry arriving on the underlay.
//
// Each flow gets, in its gateway router's zones, the two connections the
// pipeline would have made, both established (a packet each way, TCP
// picked up midstream as conntrack allows):
//
//   - SNATed (the VM opened it): in the DNAT zone without NAT, in the SNAT
//     zone with the flow's translation;
//   - DNATed (opened from outside to a floating IP: the router has a dnat
//     or dnat_and_snat rule from that address to the VM's, and the ports
//     are untouched): opened by the external side, in the SNAT zone
//     without NAT and in the DNAT zone with the translation.
//
// A VM-opened flow through a dnat_and_snat rule that kept its port looks
// the same as a DNATed one and is rebuilt as one; both shapes forward the
// same packets.
type adopter struct {
	topo *route.Topology
	ct   *conntrack.Table
	now  func() int64
}

// fixedReply is a ReplyChooser that insists on one reply tuple.
type fixedReply conntrack.Tuple

func (f fixedReply) ChooseReply(_ conntrack.Tuple, taken conntrack.Taken) (conntrack.Tuple, bool) {
	r := conntrack.Tuple(f)
	return r, !taken.Taken(r)
}

func (a *adopter) adopt(fwd flow.Action) ([2]flow.Conn, error) {
	var conns [2]flow.Conn
	k := fwd.Key
	if k.InPort != flow.Underlay {
		return conns, fmt.Errorf("adopt: flow %+v does not arrive on the underlay", k)
	}
	rp, ok := a.topo.JoinPort(k.VNI, k.InnerDst)
	if !ok {
		return conns, fmt.Errorf("adopt: no gateway router for VNI %d and %s any more", k.VNI, k.InnerDst)
	}
	r := rp.Router
	// in is fwd as it arrives, out its reverse as it arrives outside.
	in := conntrack.Tuple{Src: k.Src, Dst: k.Dst, SrcPort: k.SrcPort, DstPort: k.DstPort, Proto: k.Proto}
	out := conntrack.Tuple{Src: fwd.NATDst, Dst: fwd.NATSrc, SrcPort: fwd.NATDstPort, DstPort: fwd.NATSrcPort, Proto: k.Proto}
	// Per zone (DNAT, SNAT): the opening tuple and its reply.
	zones := [2]struct{ orig, reply conntrack.Tuple }{{in, in.Reverse()}, {in, out}}
	dir := conntrack.DirOrig
	if dnatted(r, &fwd) {
		zones = [2]struct{ orig, reply conntrack.Tuple }{{out, in}, {out, out.Reverse()}}
		dir = conntrack.DirReply
	}
	now := a.now()
	for i, z := range [2]uint16{r.DNATZone, r.SNATZone} {
		o, reply := zones[i].orig, zones[i].reply
		o.Zone, reply.Zone = z, z
		m := adoptMeta(k.Proto, packet.ICMPEchoRequest)
		c, err := a.ct.Commit(o, &m, now, fixedReply(reply))
		if err != nil {
			return conns, fmt.Errorf("adopt: commit %v: %w", o, err)
		}
		rm := adoptMeta(k.Proto, packet.ICMPEchoReply)
		if _, ok := a.ct.Lookup(reply, &rm, now); !ok {
			return conns, fmt.Errorf("adopt: %v refused its reply", o)
		}
		if k.Proto == packet.ProtoTCP {
			// Its real sequence numbers are unknown: FIN and RST must not
			// be refused as out of window.
			a.ct.SetLiberal(c.Handle)
		}
		conns[i] = flow.Conn{Handle: c.Handle, Dir: dir}
	}
	return conns, nil
}

// dnatted tells whether fwd, leaving with source fwd.NATSrc, is the
// reverse of a connection DNATed by one of r's rules: DNAT rewrites the
// address only, so any port change means SNAT.
func dnatted(r *route.Router, fwd *flow.Action) bool {
	k := &fwd.Key
	if fwd.NATSrcPort != k.SrcPort || fwd.NATDst != k.Dst || fwd.NATDstPort != k.DstPort {
		return false
	}
	for _, n := range r.NATRules() {
		if (n.Type == nat.KindDNAT || n.Type == nat.KindDNATAndSNAT) && n.External == fwd.NATSrc && n.Logical.Contains(k.Src.Addr()) {
			return true
		}
	}
	return false
}

// adoptMeta is a packet that picks a connection up midstream: a bare ACK
// for TCP.
func adoptMeta(proto, icmpType uint8) conntrack.Meta {
	m := conntrack.Meta{Len: 40, WScale: -1, ICMPType: icmpType}
	if proto == packet.ProtoTCP {
		m.TCPFlags = packet.TCPFlagACK
		m.Win = 0xffff
	}
	return m
}

// startOffload points the fast path at the interfaces, takes over what a
// previous xgw left in it, and hands the pipeline to the offload manager.
func (g *Gateway) startOffload(cfg *config.Config, topo *route.Topology, under, ext string) error {
	g.ifnames = [2]string{under, ext}
	g.fp = g.xdp[0].objs.FastPath()
	for port, name := range g.ifnames {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("interface %s: %w", name, err)
		}
		if err := g.fp.SetPort(flow.Port(port), ifi.Index); err != nil {
			return fmt.Errorf("fast path egress %s: %w", name, err)
		}
	}
	g.off = offload.New(offloadConfig(cfg.Offload, g.clock), g.ct, g.pipe, []offload.Backend{bpf.NewBackend(g.fp)})
	g.off.SetIPv6(g.ct6, g.pipe)
	if cfg.Offload.Enabled {
		adopted, removed, err := g.off.Adopt((&adopter{topo: topo, ct: g.ct, now: g.clock}).adopt,
			(&adopter6{topo: topo, ct: g.ct6, now: g.clock}).adopt)
		if err != nil {
			return fmt.Errorf("adopt the pinned fast path: %w", err)
		}
		if adopted+removed > 0 {
			g.log.Info("took over the fast path of a previous xgw", "connections", adopted, "entries_removed", removed)
		}
	} else if n, err := g.fp.Clear(); err != nil {
		return fmt.Errorf("clear the fast path (offload is off): %w", err)
	} else if n > 0 {
		g.log.Info("offload is off: removed the fast-path entries a previous xgw left", "entries", n)
	}
	g.pipe.SetOffload(g.off)
	return nil
}

// offloadMetrics maps the manager's counters onto the metrics' shape.
func (g *Gateway) offloadMetrics() metrics.OffloadStats {
	s := g.off.Stats()
	return metrics.OffloadStats{
		Entries: s.Offloaded,
		Promotions: map[string]uint64{"tcp": s.Promoted.TCP, "udp_answered": s.Promoted.UDPAnswered,
			"udp_oneway": s.Promoted.UDPOneway, "icmp": s.Promoted.ICMP},
		Withdrawals: map[string]uint64{"fin_rst": s.Withdrawn.FinRst, "expired": s.Withdrawn.Expired,
			"config": s.Withdrawn.Config, "error": s.Withdrawn.Error},
	}
}
