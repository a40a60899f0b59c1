package datapath

import (
	"sync/atomic"

	"github.com/xgw-dev/xgw/ipfrag"

	"github.com/xgw-dev/xgw/flow"
)

// counters are a worker's own plain counters, bumped in the per-packet path
// without atomics; publish copies them to the shared snapshot once a batch.
type counters struct {
	verdicts [NumVerdicts]uint64
	bytes    [NumVerdicts]uint64 // frame lengths as they left the pipeline
	drops    [NumDrops]uint64
	rx       [flow.NumPorts]uint64
	tx       [flow.NumPorts]uint64
	egress   uint64 // Geneve packets forwarded to the external side
	ingress  uint64 // external packets forwarded to a chassis
	hairpin  uint64 // Geneve to a NAT address forwarded back to a chassis (hairpin.go)
	arpReply uint64 // over Geneve, for join-port addresses (arp.go)
	// on the external side, for NAT addresses (arp_external.go)
	arpReplyExternal uint64
	cacheHits        uint64 // forwarded from the flow cache
	icmpOut          uint64 // ICMP the routers generated and sent
	held             uint64 // copied into the hold queue (hold.go)
	holdSent         uint64 // held frames sent once their next hop resolved
}

// Stats is a snapshot of pipeline counters, summed over workers.
type Stats struct {
	Verdicts [NumVerdicts]uint64
	// Bytes sums the frame lengths per verdict, as each frame left the
	// pipeline (after encap or decap).
	Bytes   [NumVerdicts]uint64
	Drops   [NumDrops]uint64
	RX, TX  [flow.NumPorts]uint64
	Egress  uint64
	Ingress uint64
	// Hairpin counts packets from a chassis to one of their router's NAT
	// addresses, forwarded back to a chassis (RFC 4787 REQ-9).
	Hairpin uint64
	// ARPReply counts ARP replies sent over Geneve for the gateway
	// routers' join-port addresses; ARPReplyExternal those sent on the
	// external side for NAT addresses.
	ARPReply         uint64
	ARPReplyExternal uint64
	// CacheHits counts packets forwarded from the workers' flow caches
	// (the rest of TX took the full pipeline).
	CacheHits uint64
	// ICMPOut counts ICMP messages the routers generated (echo replies,
	// time exceeded) and sent.
	ICMPOut uint64
	// Held counts packets held for an unresolved next hop (VerdictHeld);
	// each is later in HoldSent or in Drops[neighbor-hold-timeout].
	Held, HoldSent uint64
	// Fragments counts what the fragment table did (frag.go): fragments
	// translated at once, held and released, and dropped by reason,
	// those that timed out while held included.
	Fragments ipfrag.Stats
}

// published mirrors counters with atomics so readers never race a worker.
type published struct {
	verdicts  [NumVerdicts]atomic.Uint64
	bytes     [NumVerdicts]atomic.Uint64
	drops     [NumDrops]atomic.Uint64
	rx, tx    [flow.NumPorts]atomic.Uint64
	egress    atomic.Uint64
	ingress   atomic.Uint64
	hairpin   atomic.Uint64
	arpReply  atomic.Uint64
	arpExt    atomic.Uint64
	cacheHits atomic.Uint64
	icmpOut   atomic.Uint64
	held      atomic.Uint64
	holdSent  atomic.Uint64
}

// store publishes c, writing only the counters that changed: a batch
// moves a handful of the ~50, and each atomic store is a locked exchange
// on amd64 (a full barrier, ~20 cycles) while a load is a plain read of a
// line this worker owns. Readers still see every counter exact as of the
// last batch.
func (p *published) store(c *counters) {
	for i := range c.verdicts {
		put(&p.verdicts[i], c.verdicts[i])
		put(&p.bytes[i], c.bytes[i])
	}
	for i := range c.drops {
		put(&p.drops[i], c.drops[i])
	}
	for i := range c.rx {
		put(&p.rx[i], c.rx[i])
		put(&p.tx[i], c.tx[i])
	}
	put(&p.egress, c.egress)
	put(&p.ingress, c.ingress)
	put(&p.arpReply, c.arpReply)
	put(&p.arpExt, c.arpReplyExternal)
	put(&p.cacheHits, c.cacheHits)
	put(&p.icmpOut, c.icmpOut)
	put(&p.hairpin, c.hairpin)
	put(&p.held, c.held)
	put(&p.holdSent, c.holdSent)
}

// put stores v in a if it differs (a has no other writer).
func put(a *atomic.Uint64, v uint64) {
	if a.Load() != v {
		a.Store(v)
	}
}

func (p *published) addTo(s *Stats) {
	for i := range s.Verdicts {
		s.Verdicts[i] += p.verdicts[i].Load()
		s.Bytes[i] += p.bytes[i].Load()
	}
	for i := range s.Drops {
		s.Drops[i] += p.drops[i].Load()
	}
	for i := range s.RX {
		s.RX[i] += p.rx[i].Load()
		s.TX[i] += p.tx[i].Load()
	}
	s.Egress += p.egress.Load()
	s.Ingress += p.ingress.Load()
	s.Hairpin += p.hairpin.Load()
	s.ARPReply += p.arpReply.Load()
	s.ARPReplyExternal += p.arpExt.Load()
	s.CacheHits += p.cacheHits.Load()
	s.ICMPOut += p.icmpOut.Load()
	s.Held += p.held.Load()
	s.HoldSent += p.holdSent.Load()
}
