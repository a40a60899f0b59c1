package flow

import (
	"errors"
	"fmt"

	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// ErrDerive wraps every reason an action cannot be read off a packet.
var ErrDerive = errors.New("flow: cannot derive action")

// Output is what the pipeline produced for one packet of flow Key: the
// frame it transmits on OutPort (outer headers included when it
// encapsulated, with the parameters in Outer), the packet's TTL when it
// arrived, and its connection in each zone.
type Output struct {
	Key        Key
	OutPort    Port
	Frame      []byte
	Outer      *geneve.EncapParams // nil unless the pipeline encapsulated
	ArrivalTTL uint8
	Conns      [2]Conn
}

// Derive reads the action off o: decapsulation follows from where the
// packet came in, encapsulation from o.Outer, and the L2 header, TTL
// decrement and NAT from the (inner) frame as it leaves. It is the one
// place that turns a pipeline run into an Action: the flow cache learns
// with it from real packets, the offload planner from synthetic ones.
func Derive(o *Output, a *Action) error {
	*a = Action{Key: o.Key, OutPort: o.OutPort, Conns: o.Conns, Decap: o.Key.InPort == Underlay}
	out := o.Frame
	if o.Outer != nil {
		if len(out) < geneve.EncapLen {
			return fmt.Errorf("%w: encapsulated output shorter than its outer headers", ErrDerive)
		}
		a.Encap, a.Outer = true, *o.Outer
		out = out[geneve.EncapLen:]
	}
	var p packet.Parsed
	if p.Decode(out) != packet.OK {
		return fmt.Errorf("%w: the pipeline's output does not parse", ErrDerive)
	}
	if p.TTL > o.ArrivalTTL {
		return fmt.Errorf("%w: TTL grew from %d to %d", ErrDerive, o.ArrivalTTL, p.TTL)
	}
	eth := packet.Ethernet(out)
	a.EthSrc, a.EthDst = eth.Src(), eth.Dst()
	a.TTLDec = o.ArrivalTTL - p.TTL
	a.NATSrc, a.NATDst, a.NATSrcPort, a.NATDstPort = p.Src, p.Dst, p.SrcPort, p.DstPort
	return nil
}
