package nat

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// Default port range of an SNAT rule: everything above the well-known
// ports, so translated flows never look like they come from a service.
const (
	DefaultPortMin = 1024
	DefaultPortMax = 65535
)

// SNAT is one source-NAT rule of a gateway router: connections from the
// Logical prefix leave with one of the External addresses and a port (or
// ICMP echo id) from [PortMin, PortMax]. The range applies to echo ids too,
// so that gateways sharing an external address by splitting its port space
// never hand out the same id either.
//
// Build it with NewSNAT and do not change it afterwards; ChooseReply may be
// called concurrently.
type SNAT struct {
	Logical          netip.Prefix
	External         []packet.IP4
	PortMin, PortMax uint16

	seed      uint64
	exhausted atomic.Uint64
	// mapping is the rule's mapping behaviour; maps holds the gateway's
	// endpoint-independent mappings, which every rule's allocation
	// respects (nil: no rule of the gateway has any).
	mapping Mapping
	maps    *Mappings
}

// Both rule kinds are what conntrack calls to pick a new conn's reply tuple.
var (
	_ conntrack.ReplyChooser = (*SNAT)(nil)
	_ conntrack.ReplyChooser = DNAT{}
)

// NewSNAT validates a rule. portMin = portMax = 0 selects the default range
// 1024-65535. Port 0 is never handed out: it is not a valid TCP/UDP port.
func NewSNAT(logical netip.Prefix, external []packet.IP4, portMin, portMax uint16) (*SNAT, error) {
	if !logical.IsValid() || !logical.Addr().Is4() {
		return nil, fmt.Errorf("snat: logical %v: want an IPv4 prefix", logical)
	}
	if len(external) == 0 {
		return nil, errors.New("snat: no external address")
	}
	for _, ip := range external {
		if ip.IsZero() {
			return nil, errors.New("snat: external address 0.0.0.0")
		}
	}
	if portMin == 0 && portMax == 0 {
		portMin, portMax = DefaultPortMin, DefaultPortMax
	}
	if portMin == 0 || portMin > portMax {
		return nil, fmt.Errorf("snat: port range %d-%d: want 1 <= min <= max", portMin, portMax)
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:]) // never fails on Linux (Go 1.24+ crashes instead)
	return &SNAT{
		Logical:  logical.Masked(),
		External: append([]packet.IP4(nil), external...),
		PortMin:  portMin,
		PortMax:  portMax,
		seed:     binary.LittleEndian.Uint64(seed[:]),
	}, nil
}

// SetMapping sets the rule's mapping behaviour and the gateway's mapping
// table, which every rule sharing an external address must be given so
// that no rule hands out a port a mapping holds. Call it after NewSNAT,
// before the rule is used; m may be nil only with endpoint-dependent
// mapping.
func (s *SNAT) SetMapping(mode Mapping, m *Mappings) error {
	if mode == MappingEndpointIndependent && m == nil {
		return errors.New("snat: endpoint-independent mapping needs a mapping table")
	}
	s.mapping, s.maps = mode, m
	return nil
}

// Mapping returns the rule's mapping behaviour.
func (s *SNAT) Mapping() Mapping { return s.mapping }

// Matches reports whether the rule applies to a connection from src.
func (s *SNAT) Matches(src packet.IP4) bool { return s.Logical.Contains(src.Addr()) }

// Exhausted counts connections refused because every address and port of
// the rule was taken: the signal to add external addresses.
func (s *SNAT) Exhausted() uint64 { return s.exhausted.Load() }

// ChooseReply implements conntrack.ReplyChooser. The reply is orig reversed
// with its destination (the translated source) set to an external address
// and port. The address is chosen by a hash of orig.Src so a host keeps one
// identity; the others are tried in turn only when its address is full. The
// original port is kept when it is in range and free. ok is false, and the
// exhaustion counter moves, when nothing is free.
//
// With endpoint-independent mapping an inside endpoint that already has a
// mapping gets its external endpoint again, toward any destination; one
// without gets a port no other mapping holds, and keeps it while its
// connections live. If the mapping's port is taken toward this very
// destination, or the table is full, the connection gets a port of its own
// (counted) rather than fail.
func (s *SNAT) ChooseReply(orig conntrack.Tuple, taken conntrack.Taken) (conntrack.Tuple, bool) {
	reply := orig.Reverse()
	eim := s.mapping == MappingEndpointIndependent && s.maps != nil && hasIDs(orig.Proto)
	if !eim && !s.maps.active() {
		return s.choose(orig, reply, taken, nil)
	}
	m := s.maps
	m.mu.Lock()
	defer m.mu.Unlock()
	if !eim {
		return s.choose(orig, reply, taken, m)
	}
	in := endpoint{ip: orig.Src, port: orig.SrcPort, proto: orig.Proto, zone: orig.Zone}
	if b, ok := m.inside[in]; ok && s.owns(b.ip, b.port) {
		if c, ok := m.use(in, reply, taken); ok {
			hold(taken)
			return c, true
		}
		return s.choose(orig, reply, taken, m)
	}
	if len(m.inside) >= m.cap {
		m.full.Add(1)
		return s.choose(orig, reply, taken, m)
	}
	c, ok := s.choose(orig, reply, taken, m)
	if ok {
		m.add(in, c.Dst, c.DstPort)
		hold(taken)
	}
	return c, ok
}

// hold tells conntrack that the connection being committed holds a
// reference to its mapping, so that its Release gives it back; a
// connection with a port of its own is never held. A Taken without Hold
// (a test's) has no connection to mark.
func hold(taken conntrack.Taken) {
	if h, ok := taken.(conntrack.Holder); ok {
		h.Hold()
	}
}

// owns reports whether ip:port is one the rule hands out: a mapping made
// under an earlier configuration may not be.
func (s *SNAT) owns(ip packet.IP4, port uint16) bool {
	if port < s.PortMin || port > s.PortMax {
		return false
	}
	for _, e := range s.External {
		if e == ip {
			return true
		}
	}
	return false
}

// choose allocates a fresh external endpoint for orig, skipping the ports
// res reserves (res is nil or locked by the caller).
func (s *SNAT) choose(orig, reply conntrack.Tuple, taken conntrack.Taken, res *Mappings) (conntrack.Tuple, bool) {
	n := uint64(len(s.External))
	if n == 0 { // a zero SNAT, not built by NewSNAT
		s.exhausted.Add(1)
		return conntrack.Tuple{}, false
	}
	first := hashAddr(orig.Src) % n
	var start uint64
	if hasIDs(orig.Proto) {
		start = hashTuple(orig, s.seed)
	}
	for i := uint64(0); i < n; i++ {
		ip := s.External[(first+i)%n]
		if !hasIDs(orig.Proto) {
			if c := candidate(reply, ip, reply.DstPort); !taken.Taken(c) {
				return c, true
			}
			continue
		}
		if c, ok := allocPort(reply, ip, s.PortMin, s.PortMax, orig.SrcPort, start, taken, res); ok {
			return c, true
		}
	}
	s.exhausted.Add(1)
	return conntrack.Tuple{}, false
}
