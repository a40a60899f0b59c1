package gateway

import (
	"fmt"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// adopter6 is adopter for IPv6 flows: it rebuilds their connections in
// Table6, in the same two shapes (SNATed: NAT66 in the SNAT zone;
// DNATed through a dnat or dnat_and_snat rule of NATRules6: opened from
// outside, the translation in the DNAT zone, as the pipeline's ingress6
// commits it). A routed flow (no NAT66, OVN's default for IPv6) is
// rebuilt as VM-opened without translation in either zone; whichever side
// opened it, the same packets are forwarded.
type adopter6 struct {
	topo *route.Topology
	ct   *conntrack.Table6
	now  func() int64
}

// fixedReply6 is fixedReply for IPv6 tuples.
type fixedReply6 conntrack.Tuple6

func (f fixedReply6) ChooseReply(_ conntrack.Tuple6, taken conntrack.Taken6) (conntrack.Tuple6, bool) {
	r := conntrack.Tuple6(f)
	return r, !taken.Taken(r)
}

func (a *adopter6) adopt(fwd flow.Action6) ([2]flow.Conn, error) {
	var conns [2]flow.Conn
	k := fwd.Key
	if k.InPort != flow.Underlay {
		return conns, fmt.Errorf("adopt: IPv6 flow %+v does not arrive on the underlay", k)
	}
	rp, ok := a.topo.JoinPort(k.VNI, k.InnerDst)
	if !ok {
		return conns, fmt.Errorf("adopt: no gateway router for VNI %d and %s any more", k.VNI, k.InnerDst)
	}
	r := rp.Router
	in := conntrack.Tuple6{Src: k.Src, Dst: k.Dst, SrcPort: k.SrcPort, DstPort: k.DstPort, Proto: k.Proto}
	out := conntrack.Tuple6{Src: fwd.NATDst, Dst: fwd.NATSrc, SrcPort: fwd.NATDstPort, DstPort: fwd.NATSrcPort, Proto: k.Proto}
	zones := [2]struct{ orig, reply conntrack.Tuple6 }{{in, in.Reverse()}, {in, out}}
	dir := conntrack.DirOrig
	if dnatted6(r, &fwd) {
		zones = [2]struct{ orig, reply conntrack.Tuple6 }{{out, in}, {out, out.Reverse()}}
		dir = conntrack.DirReply
	}
	now := a.now()
	for i, z := range [2]uint16{r.DNATZone, r.SNATZone} {
		o, reply := zones[i].orig, zones[i].reply
		o.Zone, reply.Zone = z, z
		m := adoptMeta(k.Proto, packet.ICMPv6EchoRequest)
		c, err := a.ct.Commit(o, &m, now, fixedReply6(reply))
		if err != nil {
			return conns, fmt.Errorf("adopt: commit %v: %w", o, err)
		}
		rm := adoptMeta(k.Proto, packet.ICMPv6EchoReply)
		if _, ok := a.ct.Lookup(reply, &rm, now); !ok {
			return conns, fmt.Errorf("adopt: %v refused its reply", o)
		}
		if k.Proto == packet.ProtoTCP {
			a.ct.SetLiberal(c.Handle) // as adopter: sequence numbers unknown
		}
		conns[i] = flow.Conn{Handle: c.Handle, Dir: dir}
	}
	return conns, nil
}

// dnatted6 is dnatted for IPv6: fwd leaves with source fwd.NATSrc, a
// dnat or dnat_and_snat rule's external address for its source, with
// ports and destination untouched.
func dnatted6(r *route.Router, fwd *flow.Action6) bool {
	k := &fwd.Key
	if fwd.NATSrcPort != k.SrcPort || fwd.NATDst != k.Dst || fwd.NATDstPort != k.DstPort || fwd.NATSrc == k.Src {
		return false
	}
	for _, n := range r.NATRules6() {
		if (n.Type == nat.KindDNAT || n.Type == nat.KindDNATAndSNAT) && n.External == fwd.NATSrc && n.Logical.Contains(k.Src.Addr()) {
			return true
		}
	}
	return false
}
