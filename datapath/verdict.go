package datapath

// Verdict is what happens to a frame after the pipeline.
type Verdict uint8

const (
	VerdictDrop Verdict = iota // discard; Packet.Reason says why
	VerdictTX                  // transmit on Packet.OutPort
	VerdictPass                // hand to the kernel stack untouched
	// VerdictHeld: copied and kept by the pipeline, to be sent later: a
	// packet for a next hop whose MAC is not known yet (hold.go; it leaves
	// through Worker.Ready or is dropped as neighbor-hold-timeout), or a
	// fragment waiting for its first fragment (frag.go; Worker.Extra).
	// The frame itself is free.
	VerdictHeld
	NumVerdicts
)

var verdictNames = [NumVerdicts]string{"drop", "tx", "pass", "held"}

func (v Verdict) String() string {
	if v < NumVerdicts {
		return verdictNames[v]
	}
	return "unknown"
}

// Drop enumerates why a frame was dropped. Every drop has exactly one
// reason and one counter; names are stable metric labels.
type Drop uint8

const (
	DropNone            Drop = iota
	DropMalformed            // outer or inner headers do not parse
	DropGeneve               // Geneve header invalid (version, option length, protocol)
	DropGeneveCritical       // unknown critical Geneve option (RFC 8926 §3.5)
	DropNoRouter             // no gateway router for this VNI and inner MAC
	DropNotIPv4              // inner frame neither IPv4 nor ARP
	DropFragment             // a fragment xgw does not translate (TCP, ICMP errors) or whose first fragment was dropped
	DropTTL                  // TTL would reach zero (and no time exceeded is sent)
	DropNoRoute              // no route in the logical router
	DropNeighMiss            // next-hop MAC not resolved yet (resolution triggered) and the packet not held
	DropNoBinding            // destination is not a known logical port
	DropCTInvalid            // conntrack marked the packet invalid
	DropCTFull               // conntrack at capacity: new connection refused
	DropNATExhausted         // no free external port for a new connection
	DropNoConn               // unsolicited packet to a NAT address (no connection)
	DropToRouter             // addressed to a router port itself (not served)
	DropHeadroom             // no room in the buffer for the Geneve header
	DropARP                  // ARP not for an address we answer for
	DropUnsupported          // well-formed but outside what xgw forwards
	DropIPChecksum           // IPv4 header checksum wrong (RFC 1812 5.2.2)
	DropMartianSource        // source may not be forwarded (RFC 1812 5.3.7): 0/8, 127/8, class D/E, a router's own address
	DropMartianDest          // destination may not be forwarded: 0/8, 127/8, class D/E, broadcast, a subnet's broadcast
	DropGeneveSource         // Geneve to our VTEP from an address that is no known chassis
	DropGeneveChecksum       // outer UDP checksum present and wrong
	DropGeneveOutport        // no OVN option, or its outport is not the gateway router's join port
	DropICMPRateLimited      // an ICMP message the router would send, over the per-source limit
	DropTooBig               // larger than the next link's MTU (and no fragmentation needed is sent)
	DropNeighHoldFull        // next hop unresolved and its hold queue (or the worker's) full
	DropNeighTimeout         // held for a next hop that did not resolve in time
	// DropNoConnHost: to a NAT address that is also the host's, in its
	// SNAT port range (so xdp_gw steered it here, away from the kernel),
	// and no connection: the host never sees it. Should stay near zero
	// when the range avoids the host's ephemeral and service ports.
	DropNoConnHost
	DropFragOverlap  // a fragment overlapping one already seen, or of a datagram that had one
	DropFragTooMany  // more fragments in one datagram than the table allows
	DropFragTooSmall // a non-last fragment smaller than the table's minimum
	DropFragMemory   // no room in the fragment table or its hold pool
	DropVLAN         // an 802.1Q tag (outer, or on the inner frame) on an interface that carries none
	// IPv6 (issue 13; validate6.go, nd.go).
	DropMartianSource6 // IPv6 source may not be forwarded: ::, ::1, multicast, link-local, v4-mapped, a router's own address
	DropMartianDest6   // IPv6 destination may not be forwarded: ::, ::1, link-local, multicast, v4-mapped
	DropNDInvalid      // a neighbour solicitation that fails RFC 4861 7.1.1 validation
	DropND             // neighbour discovery not for an address we answer for (as DropARP)
	NumDrops
)

var dropNames = [NumDrops]string{
	"none", "malformed", "geneve", "geneve-critical-option", "no-router",
	"not-ipv4", "fragment", "ttl-exceeded", "no-route", "neighbor-miss",
	"no-binding", "ct-invalid", "ct-full", "nat-exhausted", "no-connection",
	"to-router", "no-headroom", "arp", "unsupported", "ip-checksum",
	"martian-source", "martian-destination", "geneve-unknown-source",
	"geneve-checksum", "geneve-outport", "icmp-rate-limited",
	"too-big", "neighbor-hold-full", "neighbor-hold-timeout",
	"no-connection-host-address",
	"fragment-overlap", "fragment-too-many", "fragment-too-small",
	"fragment-memory",
	"vlan-tagged",
	"martian-source-ipv6", "martian-destination-ipv6", "nd-invalid", "nd",
}

func (d Drop) String() string {
	if d < NumDrops {
		return dropNames[d]
	}
	return "unknown"
}
