package conntrack

// ICMP and ICMPv6 follow OVS's conntrack-icmp.c: only a query (echo, timestamp,
// information request) creates a connection, keyed by its identifier (both
// ports of the Tuple); it is FIRST until the matching reply type comes back.
// ICMP errors are never connections of their own; see LookupRelated.

const (
	icmpEchoReply     = 0
	icmpEcho          = 8
	icmpTimestamp     = 13
	icmpTimestampRepl = 14
	icmpInfoRequest   = 15
	icmpInfoReply     = 16

	// ICMPv6 (conntrack-icmp.c, icmp6_valid_new): only echo starts a
	// connection. Its types do not overlap the ICMP query types, so one
	// reply map serves both families; validNew keeps each family to its own.
	icmp6EchoRequest = 128
	icmp6EchoReply   = 129
)

// icmpQueries marks the types that may start a connection, per family: a
// table rather than comparisons keeps validNew within the inliner's budget.
var icmpQueries = [256]uint8{
	icmpEcho: icmpQuery4, icmpTimestamp: icmpQuery4, icmpInfoRequest: icmpQuery4,
	icmp6EchoRequest: icmpQuery6,
}

const (
	icmpQuery4 = 1 << iota
	icmpQuery6
)

// icmpReplyType is the reply type of query type typ.
func icmpReplyType(typ uint8) uint8 {
	switch typ {
	case icmpEcho:
		return icmpEchoReply
	case icmpTimestamp:
		return icmpTimestampRepl
	case icmpInfoRequest:
		return icmpInfoReply
	case icmp6EchoRequest:
		return icmp6EchoReply
	}
	return typ
}

// ICMP connections do not use the TCP peers; the request type lives in the
// first peer's state byte.
func (e *conn) icmpType() uint8       { return uint8(e.tcp[0].state) }
func (e *conn) setICMPType(typ uint8) { e.tcp[0].state = TCPState(typ) }

func icmpNew(e *conn, m *Meta) class {
	e.setICMPType(m.ICMPType)
	return clsICMPFirst
}

// icmpUpdate accepts the request type in the orig direction and its reply
// type in the reply direction. Our key has no type, so this check keeps a
// peer's own echo request with the same id from passing as a reply.
func icmpUpdate(e *conn, dir Dir, m *Meta) result {
	want := e.icmpType()
	if dir == DirReply {
		want = icmpReplyType(want)
	}
	if m.ICMPType != want {
		return result{verdict: verdictInvalid}
	}
	c := e.class
	if dir == DirReply {
		c = clsICMPReply
	}
	return result{class: c, refresh: true}
}
