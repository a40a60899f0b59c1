package flow

import (
	"fmt"

	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// Output6 is Output for an IPv6 (inner) packet: Outer or Outer6 (at most
// one) says the pipeline encapsulated over an IPv4 or an IPv6 underlay;
// ArrivalHop is the hop limit the packet arrived with.
type Output6 struct {
	Key        Key6
	OutPort    Port
	Frame      []byte
	Outer      *geneve.EncapParams
	Outer6     *geneve.EncapParams6
	ArrivalHop uint8
	Conns      [2]Conn
}

// Derive6 is Derive for IPv6: it reads the action off o. MaxLen is the
// caller's (the egress link's MTU is not in the frame).
func Derive6(o *Output6, a *Action6) error {
	*a = Action6{Key: o.Key, OutPort: o.OutPort, Conns: o.Conns, Decap: o.Key.InPort == Underlay}
	out := o.Frame
	switch {
	case o.Outer != nil && o.Outer6 != nil:
		return fmt.Errorf("%w: encapsulated over both underlay families", ErrDerive)
	case o.Outer != nil:
		a.Encap, a.Outer = true, *o.Outer
	case o.Outer6 != nil:
		a.Encap, a.Underlay6, a.Outer6 = true, true, *o.Outer6
	}
	if l := a.EncapLen(); l > 0 {
		if len(out) < l {
			return fmt.Errorf("%w: encapsulated output shorter than its outer headers", ErrDerive)
		}
		out = out[l:]
	}
	var p packet.Parsed
	if p.DecodeDual(out) != packet.OK || p.Family != 6 {
		return fmt.Errorf("%w: the pipeline's output does not parse as IPv6", ErrDerive)
	}
	if p.TTL > o.ArrivalHop {
		return fmt.Errorf("%w: hop limit grew from %d to %d", ErrDerive, o.ArrivalHop, p.TTL)
	}
	eth := packet.Ethernet(out)
	a.EthSrc, a.EthDst = eth.Src(), eth.Dst()
	a.HopDec = o.ArrivalHop - p.TTL
	a.NATSrc, a.NATDst, a.NATSrcPort, a.NATDstPort = p.Src6, p.Dst6, p.SrcPort, p.DstPort
	return nil
}
