package nat

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// Mapping is how an SNAT rule maps an inside endpoint to external ones
// (RFC 4787 §4.1, RFC 5382 §5.1 REQ-1). The zero Mapping is
// endpoint-dependent, what OVS ct(nat) and OVN do: every connection gets a
// port of its own, chosen per destination. Endpoint-independent mapping
// keeps one external address:port for an inside address:port (per zone
// and protocol) toward every destination while any of its connections
// lives, which peer-to-peer protocols (STUN, ICE, games) rely on.
//
// OVN has no such option (its NB NAT table, up to 25.x, knows
// external_port_range, which becomes ct_snat(..., random)); the names are
// RFC 4787's, as network vendors write them ("mapping-type
// endpoint-independent").
type Mapping uint8

const (
	MappingEndpointDependent   Mapping = iota // a port per connection (OVS)
	MappingEndpointIndependent                // one port per inside endpoint
)

var mappingNames = [...]string{"endpoint-dependent", "endpoint-independent"}

// String returns the mapping as a configuration writes it.
func (m Mapping) String() string {
	if int(m) < len(mappingNames) {
		return mappingNames[m]
	}
	return fmt.Sprintf("nat.Mapping(%d)", uint8(m))
}

// ParseMapping returns the mapping written as s; "" is endpoint-dependent.
func ParseMapping(s string) (Mapping, error) {
	if s == "" {
		return MappingEndpointDependent, nil
	}
	for m, name := range mappingNames {
		if name == s {
			return Mapping(m), nil
		}
	}
	return 0, fmt.Errorf("%q is not endpoint-dependent or endpoint-independent", s)
}

// DefaultMappingCapacity bounds the endpoint-independent mappings of a
// gateway when its configuration does not.
const DefaultMappingCapacity = 65536

// endpoint is one side of a mapping: an address and port (or ICMP echo
// id) of one protocol in one conntrack zone.
type endpoint struct {
	ip    packet.IP4
	port  uint16
	proto uint8
	zone  uint16
}

// binding is the external endpoint of an inside one and how many live
// connections use it.
type binding struct {
	ip   packet.IP4
	port uint16
	refs uint32
}

// MappingStats are the counters of a Mappings table.
type MappingStats struct {
	Capacity  int
	Live      int    // mappings in use now
	Created   uint64 // mappings made
	Reused    uint64 // connections that took an existing mapping
	Released  uint64 // mappings freed when their last connection went
	Full      uint64 // new mappings refused: table at capacity (the connection got a port of its own)
	Conflicts uint64 // a mapping's port was taken toward the destination (the connection got a port of its own)
}

// Mappings holds the endpoint-independent mappings of a gateway. One
// table serves every rule of every plan, so that a reload keeps the
// mappings of live connections; conntrack calls Release (through the
// conntrack.Releaser it implements) when it removes a connection, and a
// mapping goes with its last connection.
//
// Mappings also reserves the external ports of its mappings against
// endpoint-dependent allocation: an external port belongs to one inside
// endpoint's mapping at a time. A connection that got a port of its own
// may still share its inside endpoint and external port with a mapping
// made after it, so conntrack marks the connections that took a mapping
// (conntrack.Holder) and only their releases count.
//
// The table is locked by its own mutex. Release runs under conntrack's
// shard locks, so the order is shard locks, then mu; ChooseReply holds mu
// while it asks conntrack's Taken, which never waits for a shard lock, so
// the two cannot deadlock. A Release may also come from a commit that
// lost its insert race after ChooseReply took a reference for it (held is
// then true and the reference is given back), with no shard lock held.
type Mappings struct {
	mu      sync.Mutex
	inside  map[endpoint]binding  // inside endpoint → its external one
	outside map[endpoint]endpoint // external endpoint → its inside one
	cap     int
	live    atomic.Int64 // len(inside), readable without mu

	created, reused, released, full, conflicts atomic.Uint64
}

// NewMappings returns a table of at most capacity mappings (0 selects
// DefaultMappingCapacity). Its maps start small and grow as mappings are
// made, which only happens for new connections (never on the established
// path): a gateway without endpoint-independent rules pays nothing.
func NewMappings(capacity int) *Mappings {
	if capacity <= 0 {
		capacity = DefaultMappingCapacity
	}
	hint := min(capacity, 1024)
	return &Mappings{
		inside:  make(map[endpoint]binding, hint),
		outside: make(map[endpoint]endpoint, hint),
		cap:     capacity,
	}
}

var _ conntrack.Releaser = (*Mappings)(nil)

// Stats returns the counters.
func (m *Mappings) Stats() MappingStats {
	return MappingStats{
		Capacity:  m.cap,
		Live:      int(m.live.Load()),
		Created:   m.created.Load(),
		Reused:    m.reused.Load(),
		Released:  m.released.Load(),
		Full:      m.full.Load(),
		Conflicts: m.conflicts.Load(),
	}
}

// Lookup returns the external address and port an inside endpoint is
// mapped to, for tests and dumps.
func (m *Mappings) Lookup(zone uint16, proto uint8, ip packet.IP4, port uint16) (packet.IP4, uint16, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.inside[endpoint{ip: ip, port: port, proto: proto, zone: zone}]
	return b.ip, b.port, ok
}

// Release implements conntrack.Releaser: the connection orig/reply is
// gone. If it took its inside endpoint's mapping (held: ChooseReply made
// or reused the mapping for it), the mapping loses a reference and goes
// with its last one. A connection that got a port of its own (table full,
// conflict) is not held: its port may equal a mapping made later for the
// same endpoint, which it must not release. Release runs for every
// removed connection, so it returns at once for the others.
func (m *Mappings) Release(orig, reply conntrack.Tuple, held bool) {
	if !held || m.live.Load() == 0 {
		return
	}
	in := endpoint{ip: orig.Src, port: orig.SrcPort, proto: orig.Proto, zone: orig.Zone}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.inside[in]
	if !ok || b.ip != reply.Dst || b.port != reply.DstPort {
		return // the mapping a reload replaced (its port differs)
	}
	if b.refs > 1 {
		b.refs--
		m.inside[in] = b
		return
	}
	delete(m.inside, in)
	delete(m.outside, endpoint{ip: b.ip, port: b.port, proto: in.proto, zone: in.zone})
	m.live.Add(-1)
	m.released.Add(1)
}

// reserved reports whether ip:port of proto in zone is some mapping's
// external endpoint. Callers hold mu.
func (m *Mappings) reserved(zone uint16, proto uint8, ip packet.IP4, port uint16) bool {
	_, ok := m.outside[endpoint{ip: ip, port: port, proto: proto, zone: zone}]
	return ok
}

// active reports whether the table has mappings that allocation must
// avoid; without any, endpoint-dependent rules never take the lock.
func (m *Mappings) active() bool { return m != nil && m.live.Load() > 0 }

// use takes the inside endpoint's mapping for a connection whose reply
// would be c; ok is false when the endpoint has no usable mapping. owns
// says whether an external address belongs to the rule. Callers hold mu.
func (m *Mappings) use(in endpoint, c conntrack.Tuple, taken conntrack.Taken) (conntrack.Tuple, bool) {
	b := m.inside[in]
	c = candidate(c, b.ip, b.port)
	if taken.Taken(c) {
		// Another connection to this very destination already has the
		// external endpoint: the new one gets a port of its own.
		m.conflicts.Add(1)
		return conntrack.Tuple{}, false
	}
	b.refs++
	m.inside[in] = b
	m.reused.Add(1)
	return c, true
}

// add records a new mapping with one reference. Callers hold mu and have
// checked the capacity.
func (m *Mappings) add(in endpoint, ip packet.IP4, port uint16) {
	if old, ok := m.inside[in]; ok {
		// A mapping of a rule that a reload changed: its connections keep
		// their ports, their releases no longer match, the new one wins.
		delete(m.outside, endpoint{ip: old.ip, port: old.port, proto: in.proto, zone: in.zone})
		m.live.Add(-1)
	}
	m.inside[in] = binding{ip: ip, port: port, refs: 1}
	m.outside[endpoint{ip: ip, port: port, proto: in.proto, zone: in.zone}] = in
	m.live.Add(1)
	m.created.Add(1)
}
