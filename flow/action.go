package flow

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// Conn names a connection in one conntrack zone and this flow's direction
// in it. Fast-path counters and last-seen times go back to it.
type Conn struct {
	Handle conntrack.Handle
	Dir    conntrack.Dir
}

// Conntrack zones of a gateway router, as indexes of Action.Conns and
// Candidate.Conns: the DNAT zone is traversed first on egress.
const (
	ZoneDNAT = 0
	ZoneSNAT = 1
)

// Action is what the gateway does to every packet of one direction of an
// established connection, spelled out so that a fast path (the flow cache,
// the XDP program) can do exactly the same without the pipeline. It is
// read off what the pipeline did to a packet of the flow (Derive), so the
// two never disagree.
type Action struct {
	Key Key
	// Conns are the connection in the DNAT zone and in the SNAT zone.
	// They follow Key so that a cache probe reads both in one line.
	Conns   [2]Conn
	OutPort Port
	// Decap strips the outer Ethernet/IPv4/UDP/Geneve headers (egress);
	// Encap prepends Outer (ingress). Outer.SrcPort is fixed per flow.
	Decap, Encap bool
	// On the (inner) frame after decap: the number of router hops (TTL
	// decrement; a fast path punts TTL <= TTLDec), the routed L2 header,
	// and the addresses and ports after NAT (equal to the key's when the
	// connection is not NATed).
	TTLDec                 uint8
	EthSrc, EthDst         packet.MAC
	NATSrc, NATDst         packet.IP4
	NATSrcPort, NATDstPort uint16
	Outer                  geneve.EncapParams
	// Outport, when not 0, is the OVN option outport every Geneve packet
	// of this (underlay) flow must carry: the gateway router's join port
	// key, with geneve.check_outport. A fast path takes no other.
	Outport uint16
	// MaxLen, when not 0, is the largest (inner) IPv4 packet the egress
	// link takes by the gateway's configured MTU; a fast path punts a
	// longer one, for which software sends fragmentation needed.
	MaxLen uint16
}

// Translates reports whether the action rewrites addresses or ports.
func (a *Action) Translates() bool {
	k := &a.Key
	return a.NATSrc != k.Src || a.NATDst != k.Dst || a.NATSrcPort != k.SrcPort || a.NATDstPort != k.DstPort
}

// Target is the packet's conntrack tuple after NAT (zone left 0).
func (a *Action) Target() conntrack.Tuple {
	return conntrack.Tuple{Src: a.NATSrc, Dst: a.NATDst, SrcPort: a.NATSrcPort, DstPort: a.NATDstPort, Proto: a.Key.Proto}
}

// Candidate reports a connection that the pipeline forwarded and that the
// offload manager has not yet taken in hand (its conntrack mark lacks
// MarkOffloadSeen). Key is the direction of the packet that was seen.
type Candidate struct {
	Key   Key
	Conns [2]Conn
}

// MarkOffloadSeen is the conntrack mark bit the offload manager sets on a
// connection it has taken in hand, so the pipeline reports it only once.
const MarkOffloadSeen = 1 << 31

// Sink receives candidates at the end of each batch. It must not block or
// keep the slice.
type Sink interface {
	Candidates(c []Candidate)
	// Withdraw is told, without blocking, about a FIN or RST seen on a
	// connection the manager had taken in hand (a fast path punts those
	// segments to software), so that its fast-path entries go at once
	// instead of at the next sync.
	Withdraw(h conntrack.Handle)
}
