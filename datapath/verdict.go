package datapath

// Verdict is what happens to a frame after the pipeline.
type Verdict uint8

const (
	VerdictDrop Verdict = iota // discard; Packet.Reason says why
	VerdictTX                  // transmit on Packet.OutPort
	VerdictPass                // hand to the kernel stack untouched
	NumVerdicts
)

var verdictNames = [NumVerdicts]string{"drop", "tx", "pass"}

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
	DropFragment             // IPv4 fragments are not tracked
	DropTTL                  // TTL would reach zero (and no time exceeded is sent)
	DropNoRoute              // no route in the logical router
	DropNeighMiss            // next-hop MAC not resolved yet (resolution triggered)
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
	DropVLAN                 // an 802.1Q tag (outer, or on the inner frame) on an interface that carries none
	NumDrops
)

var dropNames = [NumDrops]string{
	"none", "malformed", "geneve", "geneve-critical-option", "no-router",
	"not-ipv4", "fragment", "ttl-exceeded", "no-route", "neighbor-miss",
	"no-binding", "ct-invalid", "ct-full", "nat-exhausted", "no-connection",
	"to-router", "no-headroom", "arp", "unsupported", "ip-checksum",
	"martian-source", "martian-destination", "geneve-unknown-source",
	"geneve-checksum", "geneve-outport", "icmp-rate-limited",
	"too-big", "vlan-tagged",
}

func (d Drop) String() string {
	if d < NumDrops {
		return dropNames[d]
	}
	return "unknown"
}
