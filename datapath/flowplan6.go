package datapath

import (
	"fmt"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// PlanFlow6 is PlanFlow for an IPv6 connection: both directions are
// learned by running a synthetic IPv6 packet of each through the same
// stages as real ones (egress6.go, ingress6.go), conntrack only peeked,
// and read off with flow.Derive6.
func (p *Pipeline) PlanFlow6(c flow.Candidate6) (fwd, rev flow.Action6, err error) {
	p.planner.mu.Lock()
	defer p.planner.mu.Unlock()
	w := p.plannerWorker()
	pl := p.plan.Load()
	now := p.clock()
	fwd, err = w.planOne6(pl, c.Key, p.planner.buf, now)
	if err != nil {
		return fwd, rev, err
	}
	if fwd.Conns != c.Conns {
		return fwd, rev, fmt.Errorf("%w: the connection was replaced", ErrPlan)
	}
	rk, err := reverseKey6(pl, &fwd)
	if err != nil {
		return fwd, rev, err
	}
	rev, err = w.planOne6(pl, rk, p.planner.buf, now)
	if err != nil {
		return fwd, rev, err
	}
	for i := range rev.Conns {
		if rev.Conns[i].Handle != fwd.Conns[i].Handle || rev.Conns[i].Dir == fwd.Conns[i].Dir {
			return fwd, rev, fmt.Errorf("%w: the reverse direction does not return to the same connection", ErrPlan)
		}
	}
	return fwd, rev, nil
}

// reverseKey6 is the key of packets answering fwd's output. Out of the
// external port they come back there; into the underlay they come back
// from the distributed router over the join switch of the gateway
// router's route to the (un-NATed) destination, as ingress6 routes it.
func reverseKey6(pl *plan, fwd *flow.Action6) (flow.Key6, error) {
	if fwd.OutPort == flow.External {
		return fwd.ReplyKey(flow.External, 0, packet.MAC{}), nil
	}
	topo := pl.topo
	r, ok := topo.RouterByExternalIP6(fwd.Key.Dst)
	if !ok {
		if r, ok = topo.InboundRouter6(fwd.Key.Dst); !ok {
			return flow.Key6{}, fmt.Errorf("%w: no gateway router for %v", ErrPlan, fwd.Key.Dst)
		}
	}
	hop, ok := r.Route6(fwd.NATDst)
	if !ok || hop.Port.External || hop.Port.Switch == nil {
		return flow.Key6{}, fmt.Errorf("%w: no join port toward %v", ErrPlan, fwd.NATDst)
	}
	if hop.Port.Router.Key != 0 {
		// Answers would come as distributed-gateway-port redirects,
		// which IPv6 does not take yet (egress6.go).
		return flow.Key6{}, fmt.Errorf("%w: IPv6 through a distributed gateway port", ErrPlan)
	}
	return fwd.ReplyKey(flow.Underlay, hop.Port.Switch.Key, hop.Port.MAC), nil
}

// planOne6 is planOne for an IPv6 key.
func (w *Worker) planOne6(pl *plan, k flow.Key6, buf []byte, now int64) (flow.Action6, error) {
	var a flow.Action6
	n, outport := synthesize6(buf[planHeadroom:], pl, k)
	if n == 0 {
		return a, fmt.Errorf("%w: protocol %d is not offloaded", ErrPlan, k.Proto)
	}
	pkt := Packet{Buf: buf, Off: planHeadroom, Len: n, InPort: k.InPort}
	w.processOne(pl, &pkt, now, true)
	if pkt.Verdict != VerdictTX {
		return a, fmt.Errorf("%w: %v (%v)", ErrPlan, pkt.Verdict, pkt.Reason)
	}
	c := &w.ctx
	if !c.v6 || c.zones != bothZones {
		return a, fmt.Errorf("%w: the flow does not cross both zones", ErrPlan)
	}
	o := flow.Output6{Key: k, OutPort: pkt.OutPort, Frame: pkt.Frame(), ArrivalHop: c.ttl, Conns: c.cand.Conns}
	var outer6 geneve.EncapParams6
	if pkt.OutPort == flow.Underlay {
		if packet.Ethernet(o.Frame).EtherType() == packet.EtherTypeIPv6 {
			if err := outerOf6(o.Frame, &outer6); err != nil {
				return a, err
			}
			o.Outer6 = &outer6
		} else {
			o.Outer = &c.outer // what encap wrote
		}
	}
	if err := flow.Derive6(&o, &a); err != nil {
		return a, fmt.Errorf("%w: %w", ErrPlan, err)
	}
	if k.InPort == flow.Underlay && pl.topo.CheckOutport {
		a.Outport = outport // what fromUnderlay6 checks
	}
	a.MaxLen = uint16(min(w.p.maxOut[a.OutPort], 0xffff)) // tooBig's limit
	return a, nil
}

// outerOf6 reads the parameters encap6 used off the IPv6-underlay Geneve
// frame f it wrote (encap6 keeps no copy of them).
func outerOf6(f []byte, e *geneve.EncapParams6) error {
	var d geneve.Decapped
	if geneve.DecapDual(f, &d) != geneve.OK || !d.IPv6 {
		return fmt.Errorf("%w: the pipeline's Geneve over IPv6 does not parse", ErrPlan)
	}
	eth := packet.Ethernet(f)
	ip := packet.IPv6(f[packet.EthernetLen:])
	*e = geneve.EncapParams6{SrcMAC: eth.Src(), DstMAC: eth.Dst(), Src: d.OuterSrc6, Dst: d.OuterDst6,
		HopLimit: ip.HopLimit(), TrafficClass: ip.TrafficClass(), FlowLabel: ip.FlowLabel(),
		SrcPort: d.SrcPort, VNI: d.VNI, InPort: d.InPort, OutPort: d.OutPort}
	return nil
}

// synthesize6 writes an IPv6 packet of flow k into b (Geneve over the
// IPv4 underlay, or the IPv6 one when the topology has only that, when
// it arrives on the underlay) and returns its length, or 0 for a
// protocol that is not offloaded, and the OVN outport it carries (the
// join port's key, which fromUnderlay6 checks). Checksums are left zero,
// as no stage verifies them, but for UDP's, which IPv6 forbids to be 0.
func synthesize6(b []byte, pl *plan, k flow.Key6) (n int, outport uint16) {
	var l4len int
	switch k.Proto {
	case packet.ProtoUDP:
		l4len = packet.UDPLen
	case packet.ProtoTCP:
		l4len = packet.TCPMinLen
	case packet.ProtoICMPv6:
		l4len = packet.ICMPLen
	default:
		return 0, 0
	}
	topo := pl.topo
	under6 := topo.VTEP.IsZero() && !topo.VTEP6.IsUnspecified()
	off := 0
	if k.InPort == flow.Underlay {
		off = geneve.EncapLen
		if under6 {
			off = geneve.EncapLen6
		}
		if rp, ok := topo.JoinPort(k.VNI, k.InnerDst); ok {
			outport = rp.Key
		}
	}
	in := b[off:]
	clear(in[:packet.EthernetLen+packet.IPv6Len+l4len])
	eth := packet.Ethernet(in)
	eth.SetDst(k.InnerDst)
	eth.SetEtherType(packet.EtherTypeIPv6)
	packet.IPv6(in[packet.EthernetLen:]).Encode(packet.IPv6Fields{PayloadLength: uint16(l4len),
		NextHeader: k.Proto, HopLimit: synthTTL, Src: k.Src, Dst: k.Dst})
	l4 := in[packet.EthernetLen+packet.IPv6Len:]
	switch k.Proto {
	case packet.ProtoUDP:
		u := packet.UDP(l4)
		u.SetSrcPort(k.SrcPort)
		u.SetDstPort(k.DstPort)
		u.SetLength(packet.UDPLen)
		u.SetChecksum(u.ComputeChecksum6(k.Src, k.Dst)) // 0 is malformed in IPv6
	case packet.ProtoTCP:
		t := packet.TCP(l4)
		t.SetSrcPort(k.SrcPort)
		t.SetDstPort(k.DstPort)
		l4[12] = 5 << 4
		l4[13] = packet.TCPFlagACK
	case packet.ProtoICMPv6:
		l4[0] = packet.ICMPv6EchoRequest
		packet.ICMPv6(l4).SetID(k.SrcPort)
	}
	n = packet.EthernetLen + packet.IPv6Len + l4len
	if k.InPort != flow.Underlay {
		return n, 0
	}
	// Outer headers as a chassis would send them to our VTEP.
	if under6 {
		// From a known chassis: fromUnderlayIPv6 takes no other (its
		// checksum, which Encap6 computes, is verified too).
		src := topo.VTEP6
		if len(topo.Chassis6) > 0 {
			src = topo.Chassis6[0].IP6
		}
		e := geneve.EncapParams6{Src: src, Dst: topo.VTEP6, HopLimit: 64, SrcPort: 1, VNI: k.VNI, OutPort: outport}
		geneve.Encap6(b, off, n, &e)
	} else {
		e := geneve.EncapParams{Src: topo.VTEP, Dst: topo.VTEP, TTL: 64, SrcPort: 1, VNI: k.VNI, OutPort: outport}
		geneve.Encap(b, off, n, &e)
	}
	return n + off, outport
}
