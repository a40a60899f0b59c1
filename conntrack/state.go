package conntrack

import "strings"

// State is a set of ct_state bits with the values OVS uses, so that dumps
// and flow matches read the same as in ovs-ofctl.
type State uint8

const (
	New         State = 0x01
	Established State = 0x02
	Related     State = 0x04
	ReplyDir    State = 0x08
	Invalid     State = 0x10
	Tracked     State = 0x20
	SrcNAT      State = 0x40
	DstNAT      State = 0x80
)

var stateNames = [...]struct {
	bit  State
	name string
}{
	{New, "new"}, {Established, "est"}, {Related, "rel"}, {ReplyDir, "rpl"},
	{Invalid, "inv"}, {Tracked, "trk"}, {SrcNAT, "snat"}, {DstNAT, "dnat"},
}

// String renders the set bits as OVS does in flow dumps: "+new+trk".
func (s State) String() string {
	var b strings.Builder
	for _, n := range stateNames {
		if s&n.bit != 0 {
			b.WriteByte('+')
			b.WriteString(n.name)
		}
	}
	return b.String()
}

// Dir is the direction of a packet relative to its connection.
type Dir uint8

const (
	DirOrig  Dir = 0
	DirReply Dir = 1
)
