package datapath

import (
	"errors"
	"fmt"
	"sync"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// planner replays synthetic packets through the pipeline's stages to learn
// what they do to a flow. One is enough: planning happens once per
// connection, off the packet path.
type planner struct {
	mu  sync.Mutex
	w   *Worker
	buf []byte
}

const planHeadroom = 128

// ErrPlan wraps every reason a flow cannot be planned (yet): the
// connection is gone, a neighbour is unresolved, the route changed.
var ErrPlan = errors.New("datapath: cannot plan flow")

// PlanFlow computes the actions of both directions of the connection c
// reports: fwd for packets like the one seen (c.Key), rev for the other
// direction, whose key is derived from fwd's output. Each is learned by
// running a synthetic packet of that direction through the same stages as
// real packets, with conntrack only peeked, so a fast path that applies
// them does exactly what the pipeline would.
func (p *Pipeline) PlanFlow(c flow.Candidate) (fwd, rev flow.Action, err error) {
	p.planner.mu.Lock()
	defer p.planner.mu.Unlock()
	w := p.plannerWorker()
	pl := p.plan.Load()
	now := p.clock()
	fwd, err = w.planOne(pl, c.Key, p.planner.buf, now)
	if err != nil {
		return fwd, rev, err
	}
	if fwd.Conns != c.Conns {
		return fwd, rev, fmt.Errorf("%w: the connection was replaced", ErrPlan)
	}
	rk, err := w.reverseKey(&fwd)
	if err != nil {
		return fwd, rev, err
	}
	rev, err = w.planOne(pl, rk, p.planner.buf, now)
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

// plannerWorker is the worker PlanFlow and PlanFlow6 replay synthetic
// packets on, with its buffer, made on first use (p.planner.mu held).
func (p *Pipeline) plannerWorker() *Worker {
	if p.planner.w == nil {
		p.planner.w = &Worker{p: p}
		p.planner.buf = make([]byte, 512)
	}
	return p.planner.w
}

// reverseKey is the key of packets answering fwd's output.
func (w *Worker) reverseKey(fwd *flow.Action) (flow.Key, error) {
	if fwd.OutPort == flow.External {
		return fwd.ReplyKey(flow.External, 0, packet.MAC{}), nil
	}
	// Answers from a logical port come back from the distributed router
	// over the join switch the gateway router sent the flow onto.
	join := w.ctx.join
	if join == nil || join.Switch == nil {
		return flow.Key{}, fmt.Errorf("%w: no join port for the reverse direction", ErrPlan)
	}
	if r := join.Router; r.Key != 0 {
		// Through a distributed gateway port: the hypervisor routes
		// the answer and redirects it with the router's key as VNI and
		// the next hop's MAC (its MAC_Binding, which mirrors our
		// neighbour table) as inner destination.
		hop, ok := r.Route(fwd.NATSrc)
		if !ok || !hop.Port.External {
			return flow.Key{}, fmt.Errorf("%w: no external route back to %v", ErrPlan, fwd.NATSrc)
		}
		mac, ok := w.p.neigh.Lookup(hop.NextHop)
		if !ok {
			return flow.Key{}, fmt.Errorf("%w: next hop %v unresolved", ErrPlan, hop.NextHop)
		}
		return fwd.ReplyKey(flow.Underlay, r.Key, mac), nil
	}
	return fwd.ReplyKey(flow.Underlay, join.Switch.Key, join.MAC), nil
}

// planOne runs a synthetic packet with key k through the stages, in
// planning mode, and derives the action from what they did to it.
func (w *Worker) planOne(pl *plan, k flow.Key, buf []byte, now int64) (flow.Action, error) {
	var a flow.Action
	n := synthesize(buf[planHeadroom:], pl, k)
	if n == 0 {
		return a, fmt.Errorf("%w: protocol %d is not offloaded", ErrPlan, k.Proto)
	}
	pkt := Packet{Buf: buf, Off: planHeadroom, Len: n, InPort: k.InPort}
	w.processOne(pl, &pkt, now, true)
	if pkt.Verdict != VerdictTX {
		return a, fmt.Errorf("%w: %v (%v)", ErrPlan, pkt.Verdict, pkt.Reason)
	}
	c := &w.ctx
	if c.zones != bothZones {
		return a, fmt.Errorf("%w: the flow does not cross both zones", ErrPlan)
	}
	o := c.output()
	o.Key = k
	if err := flow.Derive(&o, &a); err != nil {
		return a, fmt.Errorf("%w: %w", ErrPlan, err)
	}
	if k.InPort == flow.Underlay && pl.topo.CheckOutport {
		a.Outport = c.joinKey // what the pipeline checks (egress.go)
	}
	a.MaxLen = uint16(min(w.p.maxOut[a.OutPort], 0xffff)) // tooBig's limit
	return a, nil
}

const synthTTL = 64

// synthesize writes a packet of flow k into b (Geneve-encapsulated when it
// arrives on the underlay) and returns its length, or 0 for a protocol
// that is not offloaded. Checksums are left zero: no stage verifies them.
func synthesize(b []byte, pl *plan, k flow.Key) int {
	var l4len int
	switch k.Proto {
	case packet.ProtoUDP:
		l4len = packet.UDPLen
	case packet.ProtoTCP:
		l4len = packet.TCPMinLen
	case packet.ProtoICMP:
		l4len = packet.ICMPLen
	default:
		return 0
	}
	off := 0
	if k.InPort == flow.Underlay {
		off = geneve.EncapLen
	}
	in := b[off:]
	clear(in[:packet.EthernetLen+packet.IPv4MinLen+l4len])
	eth := packet.Ethernet(in)
	eth.SetDst(k.InnerDst)
	eth.SetEtherType(packet.EtherTypeIPv4)
	ip := packet.IPv4(in[packet.EthernetLen:])
	ip.Encode(packet.IPv4Fields{TotalLen: uint16(packet.IPv4MinLen + l4len), DF: true, TTL: synthTTL,
		Protocol: k.Proto, Src: k.Src, Dst: k.Dst})
	l4 := in[packet.EthernetLen+packet.IPv4MinLen:]
	switch k.Proto {
	case packet.ProtoUDP:
		u := packet.UDP(l4)
		u.SetSrcPort(k.SrcPort)
		u.SetDstPort(k.DstPort)
		u.SetLength(packet.UDPLen)
	case packet.ProtoTCP:
		t := packet.TCP(l4)
		t.SetSrcPort(k.SrcPort)
		t.SetDstPort(k.DstPort)
		l4[12] = 5 << 4
		l4[13] = packet.TCPFlagACK
	case packet.ProtoICMP:
		l4[0] = packet.ICMPEchoRequest
		packet.ICMPv4(l4).SetID(k.SrcPort)
	}
	n := packet.EthernetLen + packet.IPv4MinLen + l4len
	if k.InPort != flow.Underlay {
		return n
	}
	// Outer headers as a chassis would send them to our VTEP.
	e := geneve.EncapParams{Src: pl.topo.VTEP, Dst: pl.topo.VTEP, TTL: 64, SrcPort: 1, VNI: k.VNI}
	geneve.Encap(b, off, n, &e)
	return n + off
}
