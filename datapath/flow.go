package datapath

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

// FlowKey is one direction of a connection as its packets arrive at the
// gateway, before any rewrite: what a fast path matches on.
type FlowKey struct {
	InPort PortID // PortUnderlay (Geneve) or PortExternal
	// VNI and InnerDst (underlay only, zero otherwise) select the gateway
	// router: tenants reuse inner addresses, never this pair.
	VNI              uint32
	InnerDst         packet.MAC
	Src, Dst         packet.IP4 // the (inner) IPv4 addresses
	SrcPort, DstPort uint16     // ICMP echo: the id in both
	Proto            uint8
}

// FlowConn names a connection in one zone and this flow's direction in it.
// Fast-path counters and last-seen times go back to it.
type FlowConn struct {
	Handle conntrack.Handle
	Dir    conntrack.Dir
}

// FlowAction is what the pipeline does to every packet of one direction of
// an established connection, spelled out so that a fast path (the XDP
// program) can do exactly the same without it. It is computed by
// Pipeline.PlanFlow from the pipeline's own stages, so the two never
// disagree.
type FlowAction struct {
	Key     FlowKey
	OutPort PortID
	// Decap strips the outer Ethernet/IPv4/UDP/Geneve headers (egress).
	Decap bool
	// On the (inner) frame after decap: the routed L2 header, the number
	// of router hops (TTL decrement; a fast path punts TTL <= TTLDec), and
	// the addresses and ports after NAT (equal to the key's when the
	// connection is not NATed).
	EthSrc, EthDst         packet.MAC
	TTLDec                 uint8
	NATSrc, NATDst         packet.IP4
	NATSrcPort, NATDstPort uint16
	// Encap prepends Outer (ingress). Outer.SrcPort is fixed per flow.
	Encap bool
	Outer geneve.EncapParams
	// Conns are the connection in the DNAT zone and in the SNAT zone.
	Conns [2]FlowConn
}

// FlowCandidate reports a connection that the pipeline forwarded and that
// the offload manager has not yet taken in hand (its conntrack mark lacks
// MarkOffloadSeen). Key is the direction of the packet that was seen.
type FlowCandidate struct {
	Key   FlowKey
	Conns [2]FlowConn
}

// MarkOffloadSeen is the conntrack mark bit the offload manager sets on a
// connection it has taken in hand, so the pipeline reports it only once.
const MarkOffloadSeen = 1 << 31

// FlowSink receives candidates at the end of each batch. It must not block
// or keep the slice.
type FlowSink interface {
	Candidates(c []FlowCandidate)
	// Withdraw is told, without blocking, about a FIN or RST seen on a
	// connection the manager had taken in hand (the fast path punts those
	// segments here), so that its fast-path entries go at once instead of
	// at the next sync.
	Withdraw(h conntrack.Handle)
}
