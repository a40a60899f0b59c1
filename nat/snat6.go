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

// SNAT6 is an IPv6 source-NAT rule (NAT66, as OVN allows snat with IPv6
// logical and external addresses): connections from Logical leave with one
// of the External addresses and a port (or ICMPv6 echo id) from
// [PortMin, PortMax], chosen as SNAT chooses them (allocPort6 is
// allocPort's search). Its mapping is endpoint-dependent, OVS's and OVN's only
// behaviour: the endpoint-independent mappings (mapping.go) are IPv4-only.
//
// Build it with NewSNAT6 and do not change it afterwards; ChooseReply may
// be called concurrently.
type SNAT6 struct {
	Logical          netip.Prefix
	External         []packet.IP6
	PortMin, PortMax uint16

	seed      uint64
	exhausted atomic.Uint64
}

// Both IPv6 rule kinds pick a new IPv6 connection's reply tuple.
var (
	_ conntrack.ReplyChooser6 = (*SNAT6)(nil)
	_ conntrack.ReplyChooser6 = DNAT6{}
)

// NewSNAT6 validates an IPv6 rule; the ports are as for NewSNAT.
func NewSNAT6(logical netip.Prefix, external []packet.IP6, portMin, portMax uint16) (*SNAT6, error) {
	if !logical.IsValid() || !logical.Addr().Is6() || logical.Addr().Is4In6() {
		return nil, fmt.Errorf("snat6: logical %v: want an IPv6 prefix", logical)
	}
	if len(external) == 0 {
		return nil, errors.New("snat6: no external address")
	}
	for _, ip := range external {
		if ip == (packet.IP6{}) {
			return nil, errors.New("snat6: external address is the unspecified address")
		}
	}
	if portMin == 0 && portMax == 0 {
		portMin, portMax = DefaultPortMin, DefaultPortMax
	}
	if portMin == 0 || portMin > portMax {
		return nil, fmt.Errorf("snat6: port range %d-%d: want 1 <= min <= max", portMin, portMax)
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	return &SNAT6{
		Logical:  logical.Masked(),
		External: append([]packet.IP6(nil), external...),
		PortMin:  portMin,
		PortMax:  portMax,
		seed:     binary.LittleEndian.Uint64(seed[:]),
	}, nil
}

// Matches reports whether the rule applies to a connection from src.
func (s *SNAT6) Matches(src packet.IP6) bool { return s.Logical.Contains(src.Addr()) }

// Exhausted counts connections refused because every address and port of
// the rule was taken.
func (s *SNAT6) Exhausted() uint64 { return s.exhausted.Load() }

// ChooseReply implements conntrack.ReplyChooser6 as SNAT.ChooseReply does
// for IPv4 with endpoint-dependent mapping: the address by a hash of the
// source (a host keeps one identity), the original port when in range and
// free, else a keyed probe of the whole range.
func (s *SNAT6) ChooseReply(orig conntrack.Tuple6, taken conntrack.Taken6) (conntrack.Tuple6, bool) {
	reply := orig.Reverse()
	n := uint64(len(s.External))
	if n == 0 {
		s.exhausted.Add(1)
		return conntrack.Tuple6{}, false
	}
	ids := hasIDs6(orig.Proto)
	first := hashAddr6(orig.Src) % n
	var start uint64
	if ids {
		start = hashTuple6(orig, s.seed)
	}
	for i := uint64(0); i < n; i++ {
		ip := s.External[(first+i)%n]
		if !ids {
			if c := candidate6(reply, ip, reply.DstPort); !taken.Taken(c) {
				return c, true
			}
			continue
		}
		if c, ok := allocPort6(reply, ip, s.PortMin, s.PortMax, orig.SrcPort, start, taken); ok {
			return c, true
		}
	}
	s.exhausted.Add(1)
	return conntrack.Tuple6{}, false
}

// hasIDs6 is hasIDs for IPv6: TCP, UDP and ICMPv6 echo carry an id.
func hasIDs6(proto uint8) bool {
	return proto == packet.ProtoTCP || proto == packet.ProtoUDP || proto == packet.ProtoICMPv6
}

// allocPort6 is allocPort for IPv6, without mappings: the original port
// when in range and free, else every port of the range once from a
// keyed start. It is written out rather than shared with allocPort
// through a generic search taking a closure: that cost the IPv4 commit
// path a call and an indirect call per probe.
func allocPort6(reply conntrack.Tuple6, ip packet.IP6, lo, hi, want uint16, start uint64, taken conntrack.Taken6) (conntrack.Tuple6, bool) {
	if want >= lo && want <= hi {
		if c := candidate6(reply, ip, want); !taken.Taken(c) {
			return c, true
		}
	}
	size := uint32(hi) - uint32(lo) + 1
	off := uint32(start % uint64(size))
	for i := uint32(0); i < size; i++ {
		port := uint16(uint32(lo) + (off+i)%size)
		if port == want {
			continue
		}
		if c := candidate6(reply, ip, port); !taken.Taken(c) {
			return c, true
		}
	}
	return conntrack.Tuple6{}, false
}

// candidate6 is candidate for IPv6.
func candidate6(reply conntrack.Tuple6, ip packet.IP6, port uint16) conntrack.Tuple6 {
	reply.Dst = ip
	reply.DstPort = port
	if reply.Proto == packet.ProtoICMPv6 {
		reply.SrcPort = port
	}
	return reply
}

// hashAddr6 is hashAddr for IPv6 (unkeyed, paired pooling).
func hashAddr6(src packet.IP6) uint64 {
	return mix64(mix64(binary.BigEndian.Uint64(src[:8])) ^ binary.BigEndian.Uint64(src[8:]))
}

// hashTuple6 is hashTuple for IPv6, keyed by the rule's secret.
func hashTuple6(t conntrack.Tuple6, seed uint64) uint64 {
	h := mix64(binary.BigEndian.Uint64(t.Src[:8]) ^ seed)
	h = mix64(h ^ binary.BigEndian.Uint64(t.Src[8:]))
	h = mix64(h ^ binary.BigEndian.Uint64(t.Dst[:8]))
	h = mix64(h ^ binary.BigEndian.Uint64(t.Dst[8:]))
	b := uint64(t.SrcPort)<<48 | uint64(t.DstPort)<<32 | uint64(t.Proto)<<16 | uint64(t.Zone)
	return mix64(h ^ b)
}

// DNAT6 is DNAT for IPv6: External → Logical for connections that arrive
// at External, ports unchanged (OVN dnat and the inbound half of
// dnat_and_snat with IPv6 addresses).
type DNAT6 struct{ External, Logical packet.IP6 }

// Matches reports whether the rule applies to a connection addressed to dst.
func (d DNAT6) Matches(dst packet.IP6) bool { return dst == d.External }

// ChooseReply implements conntrack.ReplyChooser6 as DNAT.ChooseReply does.
func (d DNAT6) ChooseReply(orig conntrack.Tuple6, taken conntrack.Taken6) (conntrack.Tuple6, bool) {
	reply := orig.Reverse()
	reply.Src = d.Logical
	if taken.Taken(reply) {
		return conntrack.Tuple6{}, false
	}
	return reply, true
}

// SNAT returns the outbound half of an IPv6 dnat_and_snat: connections
// from d.Logical leave as d.External, ports kept when free.
func (d DNAT6) SNAT(portMin, portMax uint16) (*SNAT6, error) {
	return NewSNAT6(netip.PrefixFrom(d.Logical.Addr(), 128), []packet.IP6{d.External}, portMin, portMax)
}
