package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/control"
)

// Source is what the collector reads: the /stats snapshot. The gateway
// (control.Provider) is one.
type Source interface {
	Stats() (control.Stats, error)
}

// Options are the collector's optional inputs.
type Options struct {
	// Zones, if set, counts connections per conntrack zone. Counting may
	// walk the whole table, so the collector calls it at most once per
	// ZoneMaxAge and serves the last result in between.
	Zones func() map[uint16]int
	// ZoneMaxAge bounds the staleness of per-zone counts; default 10s.
	ZoneMaxAge time.Duration
	// Now is the clock for the busy ratio and the zone cache; default
	// time.Now.
	Now func() time.Time
}

// Collector is a prometheus.Collector over a Source.
type Collector struct {
	src   Source
	opts  Options
	busy  busyRatio
	zones zoneCache
}

// NewCollector returns a collector that reads src at every scrape.
func NewCollector(src Source, opts Options) *Collector {
	if opts.ZoneMaxAge <= 0 {
		opts.ZoneMaxAge = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Collector{src: src, opts: opts, busy: busyRatio{prev: map[int]busySample{}, ratio: map[int]float64{}},
		zones: zoneCache{fn: opts.Zones, maxAge: opts.ZoneMaxAge}}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("xgw_"+name, help, labels, nil)
}

var (
	dBuildInfo     = desc("build_info", "xgw's version; the value is always 1.", "version")
	dStatsError    = desc("stats_error", "Reading the gateway's counters failed; the other series are partial.")
	dVerdicts      = desc("pipeline_packets_total", "Frames the software pipeline decided on, by verdict: tx (forwarded), drop, pass (handed to the kernel).", "verdict")
	dVerdictBytes  = desc("pipeline_bytes_total", "Frame bytes by pipeline verdict, as the pipeline left the frame: for tx, what was transmitted (after Geneve encap or decap).", "verdict")
	dDrops         = desc("pipeline_drops_total", "Frames the pipeline dropped, by reason (one reason per drop; every reason listed, zeros included).", "reason")
	dRX            = desc("pipeline_rx_packets_total", "Frames into the pipeline, by side: underlay (Geneve) or external.", "side")
	dTX            = desc("pipeline_tx_packets_total", "Frames out of the pipeline, by side.", "side")
	dForwarded     = desc("pipeline_forwarded_packets_total", "Packets forwarded across the gateway, by direction (egress: overlay to external, SNATed or routed; ingress: external to a chassis; hairpin: a chassis to a NAT address and back) and by the routed (inner) packet's IP family (ipv4, ipv6).", "direction", "family")
	dForwardedB    = desc("pipeline_forwarded_bytes_total", "Bytes of the packets forwarded across the gateway, as each frame left the pipeline (after Geneve encap or decap), by direction and family.", "direction", "family")
	dARP           = desc("pipeline_arp_replies_total", "ARP replies the gateway routers sent, by side: underlay (over Geneve, for their join-port addresses) or external (for their NAT addresses).", "side")
	dHoldSent      = desc("pipeline_hold_sent_total", "Packets held for an unresolved next hop (verdict held) and sent once it resolved; the others are drops neighbor-hold-timeout.")
	dICMPOut       = desc("pipeline_icmp_sent_total", "ICMP messages the gateway routers generated and sent (echo replies to their addresses, time exceeded).")
	dFragments     = desc("pipeline_fragments_total", "IPv4 fragments of NATed datagrams, by event: known (translated at once), held (before their first fragment), released, completed/expired (datagrams), drop-* (dropped, by reason: overlap, too-many, too-small, no-memory, first-dropped, timeout, malformed).", "event")
	dFragHeld      = desc("pipeline_fragments_held", "Fragments held now for their datagram's first fragment.")
	dPortAlloc     = desc("nat_port_allocation_failures_total", "New connections refused because SNAT found no free external port (conntrack commits without a reply tuple), by family.", "family")
	dCTEntries     = desc("conntrack_entries", "Live connections, all zones, by family (ipv4 and ipv6 connections live in tables of their own).", "family")
	dCTZone        = desc("conntrack_zone_entries", "Live connections per conntrack zone, both families (counted by a table walk at most every few seconds; may lag xgw_conntrack_entries).", "zone")
	dCTCapacity    = desc("conntrack_capacity", "Connection limit of the family's table.", "family")
	dCTCreated     = desc("conntrack_created_total", "Connections committed, by family.", "family")
	dCTExpired     = desc("conntrack_expired_total", "Connections removed by timeout, by family.", "family")
	dCTDeleted     = desc("conntrack_deleted_total", "Connections removed explicitly or replaced by a new SYN, by family.", "family")
	dCTFull        = desc("conntrack_full_drops_total", "New connections refused because the family's table was full.", "family")
	dCTInvalid     = desc("conntrack_invalid_packets_total", "Packets conntrack marked invalid (+inv), by family.", "family")
	dNeighEntries  = desc("neighbor_entries", "Resolved neighbours in the gateway's mirror of the kernel table.")
	dNeighMisses   = desc("neighbor_misses_total", "Next-hop lookups that found no MAC (resolution started; the packet is held, see pipeline_hold_sent_total, or dropped).")
	dNeighResolves = desc("neighbor_resolutions_total", "Neighbour resolutions started.")
	dNeighFailures = desc("neighbor_failures_total", "Neighbour resolutions that could not start.")
	dEngFrames     = desc("engine_frames_total", "Frames received from AF_XDP and run through the pipeline.")
	dEngBatches    = desc("engine_batches_total", "Non-empty batches processed.")
	dEngTX         = desc("engine_tx_frames_total", "Frames handed to AF_XDP TX: in_place (out of the interface they came in on) or copied (to the other interface).", "path")
	dEngDrops      = desc("engine_drops_total", "Frames the engine dropped after the pipeline, by reason.", "reason")
	dEngErrors     = desc("engine_errors_total", "AF_XDP receive, transmit or poll errors.")
	dXskRX         = desc("afxdp_rx_packets_total", "Frames received on an AF_XDP socket.", "interface", "queue")
	dXskTX         = desc("afxdp_tx_packets_total", "Frames put on an AF_XDP socket's TX ring.", "interface", "queue")
	dXskTXDone     = desc("afxdp_tx_completed_total", "Frames the kernel finished sending (completion ring).", "interface", "queue")
	dXskWakeups    = desc("afxdp_wakeups_total", "Syscalls to wake the kernel: rx (fill ring need_wakeup) or tx (sendto).", "interface", "queue", "ring")
	dXskDrops      = desc("afxdp_kernel_drops_total", "Kernel XDP_STATISTICS of an AF_XDP socket: frames lost at the socket, by reason.", "interface", "queue", "reason")
	dXskTXEmpty    = desc("afxdp_tx_ring_empty_total", "Kernel XDP_STATISTICS: TX wake-ups that found the TX ring empty.", "interface", "queue")
	dXDPPackets    = desc("xdp_packets_total", "Packets xdp_gw handled on an interface, by action: redirect_geneve/redirect_nat/redirect_arp/redirect_nd/redirect_routed (to xgw; redirect_arp: ARP requests for NAT addresses; redirect_nd: neighbour solicitations for NAT66 addresses; redirect_routed: IPv6 to a routed prefix), pass (the host's), pass_host (to a NAT address shared with the host, not a reply to xgw's SNAT), no_socket (ours, no AF_XDP socket: passed), malformed (passed).", "interface", "action")
	dXDPBytes      = desc("xdp_bytes_total", "Bytes xdp_gw handled on an interface, by action.", "interface", "action")
	dFPHits        = desc("fastpath_packets_total", "Packets the XDP fast path forwarded itself, by direction (egress: decapsulated and SNATed out of the external interface; ingress: un-NATed and encapsulated to a chassis) and by the (inner) packet's IP family.", "direction", "family")
	dFPHitBytes    = desc("fastpath_bytes_total", "Bytes of the packets the XDP fast path forwarded, as they arrived, by direction and family.", "direction", "family")
	dFPMisses      = desc("fastpath_misses_total", "Packets the XDP fast path looked up and found no offloaded flow for (they go to the software pipeline), by family.", "family")
	dFPPunts       = desc("fastpath_punts_total", "Packets of offloaded flows the XDP fast path handed to software instead, by reason (syn, fin, rst, fragment, ttl, too-big, checksum, geneve-unknown-source, ...).", "reason")
	dBusySeconds   = desc("worker_busy_seconds_total", "CPU time of a forwarding thread (one per RX queue index). It spins while there is traffic and sleeps when not, so rate() of this is its busy ratio.", "worker")
	dBusyRatio     = desc("worker_busy_ratio", "Share of wall time a forwarding thread was on CPU, over the last interval of at least one second between scrapes (0..1). 1 means the queue is saturated.", "worker")
	dReloads       = desc("config_reloads_total", "Configuration reloads (SIGHUP or xgw reload): applied, or refused (the running configuration stayed).", "result")
	dLastReload    = desc("config_last_reload_timestamp_seconds", "Unix time of the last applied reload; 0 if none.")
	dDraining      = desc("nat_draining_addresses", "NAT addresses removed by a reload that stay steered while connections use them.")
	dEIMLive       = desc("nat_mappings", "Endpoint-independent NAT mappings in use.")
	dEIMEvents     = desc("nat_mapping_events_total", "Endpoint-independent mapping events: created, reused (a connection took an existing mapping), released (with its last connection), full (table at capacity: the connection got a port of its own), conflict (the mapped port was taken toward that destination: likewise).", "event")
)

var allDescs = []*prometheus.Desc{dBuildInfo, dStatsError, dVerdicts, dVerdictBytes, dDrops, dRX, dTX, dForwarded, dForwardedB, dARP, dICMPOut, dFragments, dFragHeld,
	dPortAlloc, dCTEntries, dCTZone, dCTCapacity, dCTCreated, dCTExpired, dCTDeleted, dCTFull, dCTInvalid,
	dNeighEntries, dNeighMisses, dNeighResolves, dNeighFailures, dEngFrames, dEngBatches, dEngTX, dEngDrops,
	dEngErrors, dXskRX, dXskTX, dXskTXDone, dXskWakeups, dXskDrops, dXskTXEmpty, dXDPPackets, dXDPBytes,
	dFPHits, dFPHitBytes, dFPMisses, dFPPunts, dBusySeconds, dBusyRatio, dReloads, dLastReload, dDraining,
	dEIMLive, dEIMEvents, dHoldSent}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one Stats snapshot per scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.src.Stats()
	if err != nil {
		// Partial stats are still served (promhttp.ContinueOnError), with
		// a flag series that alerting can key on.
		ch <- prometheus.MustNewConstMetric(dStatsError, prometheus.GaugeValue, 1)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(dBuildInfo, 1, s.Version)

	p := &s.Pipeline
	for v, n := range p.Verdicts {
		counter(dVerdicts, n, v)
	}
	for v, n := range p.Bytes {
		counter(dVerdictBytes, n, v)
	}
	for r, n := range p.Drops {
		counter(dDrops, n, r)
	}
	for side, n := range p.RX {
		counter(dRX, n, side)
	}
	for side, n := range p.TX {
		counter(dTX, n, side)
	}
	for fam, dirs := range p.Forwarded {
		for dir, n := range dirs {
			counter(dForwarded, n.Packets, dir, fam)
			counter(dForwardedB, n.Bytes, dir, fam)
		}
	}
	counter(dARP, p.ARPReply, "underlay")
	counter(dARP, p.ARPReplyExternal, "external")
	counter(dICMPOut, p.ICMPOut)
	counter(dHoldSent, p.HoldSent)
	for ev, n := range p.Fragments {
		counter(dFragments, n, ev)
	}
	gauge(dFragHeld, float64(p.FragmentsHeldNow))

	for _, f := range []struct {
		name string
		ct   *conntrack.Stats
	}{{"ipv4", &s.Conntrack}, {"ipv6", &s.Conntrack6}} {
		ct := f.ct
		counter(dPortAlloc, ct.NoReplyDrops, f.name)
		gauge(dCTEntries, float64(ct.Entries), f.name)
		gauge(dCTCapacity, float64(ct.Capacity), f.name)
		counter(dCTCreated, ct.Created, f.name)
		counter(dCTExpired, ct.Expired, f.name)
		counter(dCTDeleted, ct.Deleted, f.name)
		counter(dCTFull, ct.FullDrops, f.name)
		counter(dCTInvalid, ct.InvalidPackets, f.name)
	}
	for z, n := range c.zones.get(c.opts.Now()) {
		gauge(dCTZone, float64(n), strconv.Itoa(int(z)))
	}

	em := &s.NATMappings
	gauge(dEIMLive, float64(em.Live))
	counter(dEIMEvents, em.Created, "created")
	counter(dEIMEvents, em.Reused, "reused")
	counter(dEIMEvents, em.Released, "released")
	counter(dEIMEvents, em.Full, "full")
	counter(dEIMEvents, em.Conflicts, "conflict")

	n := &s.Neighbors
	gauge(dNeighEntries, float64(n.Entries))
	counter(dNeighMisses, n.Misses)
	counter(dNeighResolves, n.Resolutions)
	counter(dNeighFailures, n.Failures)

	e := &s.Engine
	counter(dEngFrames, e.Frames)
	counter(dEngBatches, e.Batches)
	counter(dEngTX, e.TxInPlace, "in_place")
	counter(dEngTX, e.TxCopied, "copied")
	counter(dEngDrops, e.TxRingFull, "tx_ring_full")
	counter(dEngDrops, e.TxNoFrame, "tx_no_frame")
	counter(dEngDrops, e.TxTooBig, "tx_too_big")
	counter(dEngDrops, e.PassAfterRedirect, "pass_after_redirect")
	counter(dEngErrors, e.Errors)

	for _, ps := range s.Ports {
		q := strconv.Itoa(ps.Queue)
		a := &ps.Stats
		counter(dXskRX, a.RxPackets, ps.Interface, q)
		counter(dXskTX, a.TxPackets, ps.Interface, q)
		counter(dXskTXDone, a.TxCompleted, ps.Interface, q)
		counter(dXskWakeups, a.RxKicks, ps.Interface, q, "rx")
		counter(dXskWakeups, a.TxKicks, ps.Interface, q, "tx")
		counter(dXskDrops, a.RxDropped, ps.Interface, q, "rx_dropped")
		counter(dXskDrops, a.RxRingFull, ps.Interface, q, "rx_ring_full")
		counter(dXskDrops, a.FillRingEmpty, ps.Interface, q, "fill_ring_empty")
		counter(dXskDrops, a.RxInvalidDescs, ps.Interface, q, "rx_invalid_descs")
		counter(dXskDrops, a.TxInvalidDescs, ps.Interface, q, "tx_invalid_descs")
		counter(dXskTXEmpty, a.TxRingEmpty, ps.Interface, q)
	}
	for _, x := range s.XDP {
		st := &x.Stats
		for _, a := range []struct {
			action         string
			packets, bytes uint64
		}{
			{"redirect_geneve", st.RedirectGeneve.Packets, st.RedirectGeneve.Bytes},
			{"redirect_nat", st.RedirectNAT.Packets, st.RedirectNAT.Bytes},
			{"redirect_arp", st.RedirectARP.Packets, st.RedirectARP.Bytes},
			{"redirect_nd", st.RedirectND.Packets, st.RedirectND.Bytes},
			{"redirect_routed", st.RedirectRouted.Packets, st.RedirectRouted.Bytes},
			{"pass", st.Pass.Packets, st.Pass.Bytes},
			{"pass_host", st.PassHost.Packets, st.PassHost.Bytes},
			{"no_socket", st.NoSocket.Packets, st.NoSocket.Bytes},
			{"malformed", st.Malformed.Packets, st.Malformed.Bytes},
		} {
			counter(dXDPPackets, a.packets, x.Interface, a.action)
			counter(dXDPBytes, a.bytes, x.Interface, a.action)
		}
	}

	if len(s.XDP) > 0 {
		// One fast path, shared by every interface's program: count it once.
		fp := &s.XDP[0].Stats.FastPath
		for _, h := range []struct {
			dir, fam string
			c        bpf.Counter
		}{
			{"egress", "ipv4", fp.HitEgress}, {"ingress", "ipv4", fp.HitIngress},
			{"egress", "ipv6", fp.HitEgress6}, {"ingress", "ipv6", fp.HitIngress6},
		} {
			counter(dFPHits, h.c.Packets, h.dir, h.fam)
			counter(dFPHitBytes, h.c.Bytes, h.dir, h.fam)
		}
		counter(dFPMisses, fp.Miss.Packets, "ipv4")
		counter(dFPMisses, fp.Miss6.Packets, "ipv6")
		for r := range bpf.NumPuntReasons {
			counter(dFPPunts, fp.Punts[r].Packets, r.String())
		}
	}

	ratios := c.busy.update(c.opts.Now(), s.Workers)
	for _, w := range s.Workers {
		id := strconv.Itoa(w.Worker)
		ch <- prometheus.MustNewConstMetric(dBusySeconds, prometheus.CounterValue, w.BusySeconds, id)
		gauge(dBusyRatio, ratios[w.Worker], id)
	}

	cs := &s.Config
	counter(dReloads, cs.Reloads, "applied")
	counter(dReloads, cs.ReloadFailures, "refused")
	gauge(dLastReload, float64(cs.LastReload))
	gauge(dDraining, float64(len(cs.DrainingNATAddrs)))
}

// busyRatio turns workers' CPU seconds into a ratio over the interval
// since the previous sample. Samples closer than a second are not taken:
// with several scrapers a window of a few milliseconds would be noise, so
// such a scrape sees the last ratio again.
type busyRatio struct {
	mu    sync.Mutex
	prev  map[int]busySample
	ratio map[int]float64
}

type busySample struct {
	at  time.Time
	cpu float64
}

const minBusyWindow = time.Second

func (b *busyRatio) update(now time.Time, ws []control.Worker) map[int]float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[int]float64, len(ws))
	for _, w := range ws {
		p, ok := b.prev[w.Worker]
		switch {
		case !ok || w.BusySeconds < p.cpu: // first sample, or a new thread
			b.prev[w.Worker] = busySample{now, w.BusySeconds}
		case now.Sub(p.at) >= minBusyWindow:
			r := (w.BusySeconds - p.cpu) / now.Sub(p.at).Seconds()
			b.ratio[w.Worker] = min(1, max(0, r))
			b.prev[w.Worker] = busySample{now, w.BusySeconds}
		}
		out[w.Worker] = b.ratio[w.Worker]
	}
	return out
}

// zoneCache rate-limits a per-zone count that may cost a table walk.
type zoneCache struct {
	mu     sync.Mutex
	fn     func() map[uint16]int
	maxAge time.Duration
	at     time.Time
	last   map[uint16]int
}

func (z *zoneCache) get(now time.Time) map[uint16]int {
	if z.fn == nil {
		return nil
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.last == nil || now.Sub(z.at) >= z.maxAge {
		z.last, z.at = z.fn(), now
	}
	return z.last
}
