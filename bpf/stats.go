package bpf

import "fmt"

// Counter is a packet and byte count.
type Counter struct {
	Packets, Bytes uint64
}

// Stats are xdp_gw's verdict counters summed over CPUs.
type Stats struct {
	RedirectGeneve Counter // Geneve to our VTEP, sent to the XSK
	RedirectNAT    Counter // to a NAT address, sent to the XSK
	Pass           Counter // not ours, up the stack
	NoSocket       Counter // ours, but no XSK on that queue: passed
	Malformed      Counter // truncated or bad headers: passed
	RedirectARP    Counter // ARP request for a NAT address, sent to the XSK
	// PassHost: to a NAT address shared with the host (NATHost) and not
	// a possible reply to xgw's SNAT (SSH, BGP, ...): up the stack.
	PassHost Counter
	// RedirectND counts neighbour solicitations for a NAT66 address (not
	// the host's), sent to the XSK: the IPv6 RedirectARP.
	RedirectND Counter
	// RedirectRouted counts IPv6 to an address in a routed (non-NAT)
	// prefix (SetRoutedPrefix6), sent to the XSK.
	RedirectRouted Counter
	// FastPath are the offload fast path's counters. Objects that share
	// their fast-path maps (Options.Share, or one PinPath) report the
	// same numbers: count them once.
	FastPath FastPathStats
}

// FastPathStats count what the fast path did with the frames it looked
// at (Geneve to the VTEP and IPv4 to a NAT address). A miss or punt then
// goes through the steering above, so it is counted there too.
type FastPathStats struct {
	HitEgress  Counter // decapsulated, NATed, sent out the external port
	HitIngress Counter // NATed, encapsulated, sent out the underlay port
	Miss       Counter // no flow
	// The same for IPv6 (inner) packets, over either underlay family.
	HitEgress6, HitIngress6, Miss6 Counter
	// Punts by reason; see PuntReason.
	Punts [NumPuntReasons]Counter
}

// PuntReason is why a frame of an offloaded (or unparseable) flow went
// to software. Values index FastPathStats.Punts; names are metric labels.
type PuntReason uint8

const (
	PuntSYN       PuntReason = iota // TCP SYN on an offloaded flow
	PuntFIN                         // TCP FIN: software tears the flow down
	PuntRST                         // TCP RST: likewise
	PuntFragment                    // (inner) IPv4 fragment
	PuntTTL                         // TTL <= the flow's router hops
	PuntIPOptions                   // IHL != 5, outer or inner
	PuntTooBig                      // encapsulated frame exceeds the egress MTU
	PuntHeadroom                    // bpf_xdp_adjust_head/tail refused
	PuntVLAN                        // 802.1Q/802.1ad tag, outer or inner
	PuntNotIPv4                     // inner frame is ARP, IPv6, ...
	PuntGeneve                      // version, OAM, protocol, or options we do not take
	PuntMalformed                   // lengths or outer IPv4 checksum wrong
	PuntChecksum                    // outer checksum wanted, inner UDP checksum absent
	PuntNoPort                      // tx_ports slot empty
	PuntProto                       // not TCP, UDP or ICMP echo (of the flow's type)
	// PuntUnknownVTEP: Geneve whose outer source is not in the VTEP set
	// (FastPath.SetVTEPs); software drops it as geneve-unknown-source,
	// the name it has here too.
	PuntUnknownVTEP
	// The router's input checks (include/validate.h), each named as the
	// software drop that follows it.
	PuntIPChecksum     // (inner) IPv4 header checksum wrong
	PuntMartianSource  // source in 0/8, 127/8, 224/4 or 240/4
	PuntMartianDest    // destination likewise
	PuntGeneveOutport  // no OVN option, or its outport is not the flow's join port
	PuntGeneveChecksum // outer UDP checksum present and wrong
	// PuntIP6Ext: an IPv6 extension-header chain software drops (past
	// packet.IPv6MaxExtHeaders or IPv6MaxExtBytes, past the datagram,
	// hop-by-hop not first, a bad AH length).
	PuntIP6Ext
	// PuntUnderlay6Inner4: IPv4 inside Geneve over IPv6; flow.Action
	// has no IPv6 underlay, so no flow can take it.
	PuntUnderlay6Inner4
	NumPuntReasons
)

var puntNames = [NumPuntReasons]string{
	"syn", "fin", "rst", "fragment", "ttl", "ip-options", "too-big", "headroom",
	"vlan", "not-ipv4", "geneve", "malformed", "checksum", "no-port", "proto",
	"geneve-unknown-source", "ip-checksum", "martian-source", "martian-destination",
	"geneve-outport", "geneve-checksum", "ip6-ext", "underlay6-inner4",
}

func (r PuntReason) String() string {
	if r < NumPuntReasons {
		return puntNames[r]
	}
	return "unknown"
}

// indices match enum xgw_stat in include/stats.h.
const (
	statRedirectGeneve = iota
	statRedirectNAT
	statPass
	statNoSocket
	statMalformed
	statRedirectARP
	statPassHost
	statRedirectND
	statRedirectRouted
	statMax
)

// indices match enum fp_stat in include/fpstats.h: hits, miss, then the
// punts in PuntReason order.
const (
	fpHitEgress = iota
	fpHitIngress
	fpMiss
	fpPunt0
)

// The IPv6 counters follow the punts (include/fpstats.h appends only).
const (
	fpHitEgress6 = fpPunt0 + uint32(NumPuntReasons) + iota
	fpHitIngress6
	fpMiss6
	fpMax
)

// Stats reads the per-CPU counters.
func (o *Objects) Stats() (Stats, error) {
	var s Stats
	dst := [statMax]*Counter{&s.RedirectGeneve, &s.RedirectNAT, &s.Pass, &s.NoSocket, &s.Malformed, &s.RedirectARP, &s.PassHost, &s.RedirectND, &s.RedirectRouted}
	var per []gwXgwCounter
	for i := uint32(0); i < statMax; i++ {
		if err := o.objs.XgwStats.Lookup(i, &per); err != nil {
			return Stats{}, fmt.Errorf("bpf: read stats[%d]: %w", i, err)
		}
		sumInto(dst[i], per)
	}
	fp := &s.FastPath
	for i := uint32(0); i < uint32(fpMax); i++ {
		if err := o.objs.XgwFpStats.Lookup(i, &per); err != nil {
			return Stats{}, fmt.Errorf("bpf: read fp_stats[%d]: %w", i, err)
		}
		switch i {
		case fpHitEgress:
			sumInto(&fp.HitEgress, per)
		case fpHitIngress:
			sumInto(&fp.HitIngress, per)
		case fpMiss:
			sumInto(&fp.Miss, per)
		case fpHitEgress6:
			sumInto(&fp.HitEgress6, per)
		case fpHitIngress6:
			sumInto(&fp.HitIngress6, per)
		case fpMiss6:
			sumInto(&fp.Miss6, per)
		default:
			sumInto(&fp.Punts[i-fpPunt0], per)
		}
	}
	return s, nil
}

func sumInto(c *Counter, per []gwXgwCounter) {
	for _, p := range per {
		c.Packets += p.Packets
		c.Bytes += p.Bytes
	}
}
