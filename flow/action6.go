package flow

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// Action6 is Action for IPv6 (inner) packets. The overlay family decides
// the type; the underlay may be either family: Outer encapsulates over
// IPv4, Outer6 over IPv6 (Underlay6). Keeping it apart from Action keeps
// IPv4 actions, and the flow cache entries that embed them, as small as
// they were.
type Action6 struct {
	Key Key6
	// Conns are the connection in the DNAT zone and in the SNAT zone.
	Conns   [2]Conn
	OutPort Port
	// Decap strips the outer headers (egress; the underlay family is the
	// arriving frame's); Encap prepends Outer, or Outer6 when Underlay6.
	Decap, Encap, Underlay6 bool
	// HopDec is the number of router hops: the hop limit decrement (a
	// fast path punts a hop limit <= HopDec; the pipeline answers time
	// exceeded). IPv6 has no header checksum to update.
	HopDec         uint8
	EthSrc, EthDst packet.MAC
	// The addresses and ports after NAT66 (equal to the key's when the
	// connection is not translated, OVN's default for routed IPv6).
	NATSrc, NATDst         packet.IP6
	NATSrcPort, NATDstPort uint16
	// Outport, when not 0, is the OVN option outport every Geneve packet
	// of this (underlay) flow must carry, as in Action.
	Outport uint16
	// MaxLen, when not 0, is the largest (inner) IPv6 packet, fixed
	// header included, the egress link takes by the gateway's configured
	// MTU. IPv6 routers never fragment (RFC 8200 §5): a fast path punts
	// a longer packet and software answers packet too big.
	MaxLen uint16
	Outer  geneve.EncapParams
	Outer6 geneve.EncapParams6
}

// Translates reports whether the action rewrites addresses or ports.
func (a *Action6) Translates() bool {
	k := &a.Key
	return a.NATSrc != k.Src || a.NATDst != k.Dst || a.NATSrcPort != k.SrcPort || a.NATDstPort != k.DstPort
}

// EncapLen is the bytes a's encapsulation prepends: 0 without Encap,
// geneve.EncapLen over an IPv4 underlay, geneve.EncapLen6 over IPv6.
func (a *Action6) EncapLen() int {
	switch {
	case !a.Encap:
		return 0
	case a.Underlay6:
		return geneve.EncapLen6
	}
	return geneve.EncapLen
}

// Candidate6 is Candidate for an IPv6 connection (conntrack.Table6
// handles). A type of its own so that IPv4 candidates keep their size.
type Candidate6 struct {
	Key   Key6
	Conns [2]Conn
}

// Sink6 is what a Sink that also takes IPv6 candidates implements beside
// Sink, with the same contract: the pipeline reports IPv6 connections to
// it (handles of its IPv6 conntrack table) when its Sink implements it.
type Sink6 interface {
	Candidates6(c []Candidate6)
	Withdraw6(h conntrack.Handle)
}
