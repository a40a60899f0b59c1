package conntrack

import "github.com/xgw-dev/xgw/packet"

// UDP and every protocol without its own state machine follow OVS's
// conntrack-other.c: FIRST on creation, MULTIPLE after more packets in the
// orig direction, BIDIR once a reply is seen. Their timeouts are the
// udp_first, udp_single and udp_multiple policy attributes.

// verdict is a state machine's judgement of one packet.
type verdict uint8

const (
	verdictValid   verdict = iota
	verdictInvalid         // +inv; the connection is left untouched
	verdictReopen          // TCP SYN on a closed connection: replace it
)

// result is a state machine's outcome: the verdict and, if refresh is set,
// the class whose timeout now applies.
type result struct {
	verdict verdict
	class   class
	refresh bool
}

func otherUpdate(e *conn, dir Dir) result {
	c := e.class
	switch {
	case dir == DirReply:
		c = clsUDPMultiple
	case c == clsUDPFirst:
		c = clsUDPSingle
	}
	return result{class: c, refresh: true}
}

// validNew reports whether a packet of proto may create a connection.
func validNew(proto uint8, m *Meta) bool {
	switch proto {
	case packet.ProtoTCP:
		return tcpValidNew(m.TCPFlags)
	case packet.ProtoICMP:
		return icmpQueries[m.ICMPType]&icmpQuery4 != 0
	case packet.ProtoICMPv6:
		return icmpQueries[m.ICMPType]&icmpQuery6 != 0
	}
	return true
}
