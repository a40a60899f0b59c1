package datapath

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/ipfrag"
	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// Packet is one slot of a batch: a frame inside a reusable buffer plus the
// pipeline's verdict. Buf is the whole buffer (an AF_XDP chunk); the frame
// is Buf[Off:Off+Len] and the bytes before Off are headroom for encap.
type Packet struct {
	Buf    []byte
	Off    int
	Len    int
	InPort flow.Port

	Verdict Verdict
	OutPort flow.Port // with VerdictTX
	Reason  Drop      // with VerdictDrop
}

// Frame returns the frame bytes.
func (p *Packet) Frame() []byte { return p.Buf[p.Off : p.Off+p.Len] }

// Config is what a Pipeline needs.
type Config struct {
	Topology  *route.Topology
	Conntrack *conntrack.Table
	// Conntrack6 holds the IPv6 connections (the same zones as
	// Conntrack). nil makes one of defaultConntrack6 connections.
	Conntrack6 *conntrack.Table6
	// Neighbors6 resolves IPv6 next hops on the external side; nil uses
	// Neighbors if it implements route.Neighbors6 (neigh.Table does),
	// else every IPv6 next hop is a neighbour miss.
	Neighbors6 route.Neighbors6
	// Neighbors resolves next hops on the external side and chassis VTEPs on
	// the underlay. A miss drops the packet; the resolver is expected to
	// start resolution itself.
	Neighbors route.Neighbors
	// UnderlayMAC is our MAC on the underlay interface: the outer source of
	// every Geneve frame we send.
	UnderlayMAC packet.MAC
	// Clock returns nanoseconds; read once per batch. Default: wall clock.
	Clock func() int64
	// Offload, if set, receives the connections the pipeline forwards
	// until the offload manager marks them seen.
	Offload flow.Sink
	// UnderlayMTU and ExternalMTU are the largest IPv4 packets the two
	// interfaces send (outer packets on the underlay); 0 means no limit.
	// A DF packet that would not fit gets fragmentation needed.
	UnderlayMTU, ExternalMTU int
	// Hold bounds the packets each worker holds for external next hops
	// whose MAC is not resolved yet (hold.go).
	Hold HoldConfig
	// Mappings holds the endpoint-independent NAT mappings; nil makes one
	// of nat.DefaultMappingCapacity. New makes it the conntrack table's
	// Releaser, so that a mapping goes with its last connection.
	Mappings *nat.Mappings
	// Fragments bounds the table of fragmented datagrams in progress
	// (zero: ipfrag's defaults).
	Fragments ipfrag.Config
	// NoFlowCache turns the workers' flow caches off (for comparison
	// benchmarks and debugging).
	NoFlowCache bool
}

// Pipeline is the shared, read-mostly part of the datapath. Workers hold a
// pointer to it; the plan (topology and NAT objects) is swapped atomically so
// a reload never stops forwarding.
type Pipeline struct {
	ct          *conntrack.Table
	ct6         *conntrack.Table6
	neigh6      route.Neighbors6
	sink        flow.Sink
	sink6       flow.Sink6 // sink, if it takes IPv6 candidates
	neigh       route.Neighbors
	neighVer    interface{ Version() uint64 } // neigh's, if it has one
	noCache     bool
	underlayMAC packet.MAC
	// The largest inner IPv4 packet each side can carry: the external
	// MTU, and the underlay's less the Geneve overhead (0: any).
	maxOut  [flow.NumPorts]int
	clock   func() int64
	plan    atomic.Pointer[plan]
	planner planner
	maps    *nat.Mappings
	hold    HoldConfig
	// neighPeek is neigh's side-effect-free lookup, if it has one: held
	// packets poll their next hop with it.
	neighPeek interface {
		Peek(packet.IP4) (packet.MAC, bool)
	}
	frags *ipfrag.Table

	mu      sync.Mutex
	workers []*Worker
}

// New builds a pipeline.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Topology == nil || cfg.Conntrack == nil || cfg.Neighbors == nil {
		return nil, errors.New("datapath: Topology, Conntrack and Neighbors are required")
	}
	p := &Pipeline{ct: cfg.Conntrack, neigh: cfg.Neighbors, underlayMAC: cfg.UnderlayMAC, clock: cfg.Clock}
	p.SetOffload(cfg.Offload)
	p.neighVer, _ = cfg.Neighbors.(interface{ Version() uint64 })
	p.ct6, p.neigh6 = cfg.Conntrack6, cfg.Neighbors6
	if p.neigh6 == nil {
		p.neigh6, _ = cfg.Neighbors.(route.Neighbors6)
	}
	if p.ct6 == nil {
		ct6, err := conntrack.NewTable6(conntrack.Config{Capacity: defaultConntrack6})
		if err != nil {
			return nil, fmt.Errorf("datapath: IPv6 conntrack: %w", err)
		}
		p.ct6 = ct6
	}
	p.neighPeek, _ = cfg.Neighbors.(interface {
		Peek(packet.IP4) (packet.MAC, bool)
	})
	p.hold = cfg.Hold.withDefaults(cfg.ExternalMTU)
	p.maps = cfg.Mappings
	if p.maps == nil {
		p.maps = nat.NewMappings(0)
	}
	cfg.Conntrack.SetReleaser(p.maps)
	p.noCache = cfg.NoFlowCache
	if cfg.UnderlayMTU > 0 {
		p.maxOut[flow.Underlay] = max(cfg.UnderlayMTU-geneve.EncapLen, packet.IPv4MinLen+packet.ICMPLen)
	}
	p.maxOut[flow.External] = cfg.ExternalMTU
	frags, err := ipfrag.New(cfg.Fragments)
	if err != nil {
		return nil, fmt.Errorf("datapath: %w", err)
	}
	p.frags = frags
	if p.clock == nil {
		p.clock = func() int64 { return time.Now().UnixNano() }
	}
	if err := p.SetTopology(cfg.Topology); err != nil {
		return nil, err
	}
	return p, nil
}

// SetTopology compiles t into a new plan and swaps it in. Existing
// connections keep their translations (they live in conntrack); new ones
// use the new rules.
func (p *Pipeline) SetTopology(t *route.Topology) error {
	pl, err := compile(t, p.maps)
	if err != nil {
		return fmt.Errorf("datapath: %w", err)
	}
	p.plan.Store(pl)
	p.askNeighbors(t)
	return nil
}

// askNeighbors asks the neighbour table for every chassis VTEP and
// external next hop of t it does not know yet (a Lookup miss queues a
// resolution), so that the first packet toward them finds a MAC: a
// packet toward a chassis is not held (toChassis), and a hypervisor
// behind a distributed gateway port sends nothing before the next hop's
// MAC_Binding exists, which comes from this table.
func (p *Pipeline) askNeighbors(t *route.Topology) {
	ask := func(ip packet.IP4) {
		if p.neighPeek != nil {
			if _, ok := p.neighPeek.Peek(ip); ok {
				return
			}
		}
		p.neigh.Lookup(ip)
	}
	for _, ch := range t.Chassis {
		ask(ch.IP)
	}
	for _, nh := range t.ExternalNextHops() {
		ask(nh)
	}
	// Chassis on the IPv6 underlay too: a one-way flow toward the
	// gateway never makes us send to its chassis, yet planning its
	// reverse direction (PlanFlow6) needs the chassis' MAC.
	if p.neigh6 != nil {
		peek6, _ := p.neigh6.(interface {
			Peek6(packet.IP6) (packet.MAC, bool)
		})
		for _, ch := range t.Chassis6 {
			if peek6 != nil {
				if _, ok := peek6.Peek6(ch.IP6); ok {
					continue
				}
			}
			p.neigh6.Lookup6(ch.IP6)
		}
	}
}

// SetOffload sets the sink of offload candidates. It must be called before
// any worker runs: the offload manager needs the pipeline (as its planner)
// before the pipeline can be given the manager.
// If s also implements flow.Sink6, IPv6 connections are reported to it.
func (p *Pipeline) SetOffload(s flow.Sink) {
	p.sink = s
	p.sink6, _ = s.(flow.Sink6)
}

// Mappings returns the endpoint-independent NAT mappings.
func (p *Pipeline) Mappings() *nat.Mappings { return p.maps }

// Conntrack returns the connection table.
func (p *Pipeline) Conntrack() *conntrack.Table { return p.ct }

// Conntrack6 returns the IPv6 connection table.
func (p *Pipeline) Conntrack6() *conntrack.Table6 { return p.ct6 }

// defaultConntrack6 is the IPv6 table's capacity when Config.Conntrack6
// is nil (tests; the gateway sizes it from its configuration).
const defaultConntrack6 = 1 << 16

// NewWorker returns a worker for one goroutine (one RX queue).
func (p *Pipeline) NewWorker() *Worker {
	w := &Worker{p: p, cands: make([]flow.Candidate, 0, maxCandidates), cands6: make([]flow.Candidate6, 0, maxCandidates)}
	if !p.noCache {
		w.cache = new(flowCache)
	}
	if !p.hold.Disabled {
		w.hold = newHoldQueue(p.hold)
	}
	p.mu.Lock()
	p.workers = append(p.workers, w)
	p.mu.Unlock()
	return w
}

// Stats sums the counters of every worker.
func (p *Pipeline) Stats() Stats {
	var s Stats
	p.mu.Lock()
	for _, w := range p.workers {
		w.pub.addTo(&s)
	}
	p.mu.Unlock()
	s.Fragments = p.frags.Stats()
	return s
}

// Worker runs the pipeline for one goroutine. It is not safe for
// concurrent use; its per-packet context and scratch are what keep the hot
// path free of allocations.
type Worker struct {
	p     *Pipeline
	c     counters
	pub   published
	ctx   pktCtx
	cands []flow.Candidate // offload candidates of this batch
	// cands6 are the IPv6 ones.
	cands6 []flow.Candidate6
	// cache is the flow cache (flowcache.go).
	cache *flowCache
	// hold keeps packets for unresolved next hops (hold.go); nil when
	// holding is disabled.
	hold *holdQueue
	// icmpLimit limits the ICMP this worker generates (icmp.go); quote
	// holds the datagram a time exceeded quotes while it is written.
	icmpLimit icmpLimiter
	quote     [60 + icmpQuote]byte
	// Fragments (frag.go): replay runs a released held fragment with the
	// info of its first; extra holds the released fragments of the last
	// batch, in extraBuf (allocated at the first release).
	replay     bool
	replayInfo ipfrag.Info
	extra      []Packet
	extraPkts  []Packet
	extraBuf   []byte
	// The flow-cache prefetch's scratch (prefetch.go): what it peeked per
	// batch slot, for fast() to reuse.
	keys   [prefetchMax]flow.Key
	hashes [prefetchMax]uint64
	ways   [prefetchMax]int32
	peeked [prefetchMax]bool
	touch  uint32
	// slot is 1 + the index in the batch of the packet Process is
	// running when prefetch covered it, 0 otherwise (never stale:
	// processOne also runs outside Process).
	slot int
}

// prefetchMax is how many packets of a batch prefetch looks ahead over.
const prefetchMax = 256

// Process runs every packet of batch to a verdict.
func (w *Worker) Process(batch []Packet) {
	pl := w.p.plan.Load()
	now := w.p.clock()
	peeked := 0
	if w.cache != nil {
		w.cache.sync(pl.gen, w.p.neighVersion())
		if w.cache.bypass == 0 {
			peeked = w.prefetch(batch)
		}
	}
	for i := range batch {
		pkt := &batch[i]
		if i < peeked {
			w.slot = i + 1
		}
		w.processOne(pl, pkt, now, false)
		w.slot = 0
		w.count(pkt)
	}
	w.releaseFrags(pl, now)
	if len(w.cands) > 0 {
		w.p.sink.Candidates(w.cands)
		w.cands = w.cands[:0]
	}
	if len(w.cands6) > 0 {
		w.p.sink6.Candidates6(w.cands6)
		w.cands6 = w.cands6[:0]
	}
	w.pub.store(&w.c)
}

// count counts the verdict of pkt, just processed, and notes its
// connection for offload.
func (w *Worker) count(pkt *Packet) {
	w.c.verdicts[pkt.Verdict]++
	w.c.bytes[pkt.Verdict] += uint64(pkt.Len)
	c := &w.ctx
	if pkt.Verdict == VerdictTX {
		w.c.tx[pkt.OutPort]++
		if c.unseen && c.zones == bothZones && !c.related {
			switch {
			case c.v6:
				if w.p.sink6 != nil && len(w.cands6) < cap(w.cands6) {
					w.cands6 = append(w.cands6, c.candidate6())
				}
			case w.p.sink != nil && len(w.cands) < cap(w.cands):
				w.cands = append(w.cands, c.cand)
			}
		}
	}
}

// maxCandidates bounds the offload candidates one batch reports; the rest
// are reported by their next packets.
const maxCandidates = 64

// processOne walks one packet from RX to its verdict: the flow cache, or
// the full pipeline by the port it came in on (egress.go, ingress.go),
// which the cache then learns from.
func (w *Worker) processOne(pl *plan, pkt *Packet, now int64, planning bool) {
	pkt.Verdict, pkt.Reason = VerdictDrop, DropNone
	c := &w.ctx
	c.pktState = pktState{pkt: pkt, pl: pl, now: now, planning: planning}
	if !w.replay { // a released fragment was counted when it arrived
		w.c.rx[pkt.InPort%flow.NumPorts]++
	}
	useCache := w.cache != nil && w.cache.consult()
	if useCache && w.fast(c) {
		return
	}
	var why Drop
	switch pkt.InPort {
	case flow.Underlay:
		why = w.fromUnderlay(c)
	case flow.External:
		why = w.fromExternal(c)
	default:
		why = DropUnsupported
	}
	switch {
	case why != DropNone:
		w.drop(pkt, why)
	case !useCache || pkt.Verdict != VerdictTX || c.frag != fragNone:
	case c.v6:
		w.learn6(c) // over either underlay family (flowcache6.go)
	case !c.underlay6: // flow.Action encapsulates over IPv4 only
		w.learn(c)
	}
	if c.frag == fragFirst {
		w.fragDone(c)
	}
}

func (w *Worker) drop(pkt *Packet, why Drop) {
	pkt.Verdict, pkt.Reason = VerdictDrop, why
	w.c.drops[why]++
}

func pass(pkt *Packet) { pkt.Verdict = VerdictPass }

func tx(pkt *Packet, port flow.Port) { pkt.Verdict, pkt.OutPort = VerdictTX, port }
