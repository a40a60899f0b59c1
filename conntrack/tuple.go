package conntrack

import (
	"fmt"

	"github.com/xgw-dev/xgw/packet"
)

// Tuple is the key of one direction of a connection inside a zone. It is a
// fixed-size, pointer-free, comparable value (16 bytes) so that it can be
// hashed and stored without allocation. For ICMP echo, SrcPort and DstPort
// both hold the echo identifier.
type Tuple struct {
	Src, Dst         packet.IP4
	SrcPort, DstPort uint16
	Proto            uint8
	_                uint8
	Zone             uint16
}

// Reverse returns the tuple of the opposite direction, same zone.
func (t Tuple) Reverse() Tuple {
	return Tuple{Src: t.Dst, Dst: t.Src, SrcPort: t.DstPort, DstPort: t.SrcPort, Proto: t.Proto, Zone: t.Zone}
}

func (t Tuple) String() string {
	return fmt.Sprintf("zone=%d proto=%d %s:%d->%s:%d", t.Zone, t.Proto, t.Src, t.SrcPort, t.Dst, t.DstPort)
}
