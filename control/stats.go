package control

import (
	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/datapath/engine"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/neigh"
	"github.com/xgw-dev/xgw/offload"
)

// Stats is the /stats document. Sections from other packages keep their Go
// field names; the pipeline's enumerated counters are keyed by their stable
// names (the metric labels) so that scripts need not know the enum order.
type Stats struct {
	Version   string          `json:"version"`
	Uptime    float64         `json:"uptime_seconds"`
	Pipeline  Pipeline        `json:"pipeline"`
	Engine    engine.Stats    `json:"engine"`
	Conntrack conntrack.Stats `json:"conntrack"`
	// Conntrack6 is the IPv6 connection table's (Conntrack is IPv4's).
	Conntrack6 conntrack.Stats    `json:"conntrack6"`
	Ports      []engine.PortStats `json:"afxdp_ports"`
	XDP        []XDP              `json:"xdp"`
	Neighbors  neigh.Stats        `json:"neighbors"`
	Workers    []Worker           `json:"workers"`
	// Offload is the offload manager's counters; the fast path's own
	// (hits, punts) are in each XDP entry's stats.FastPath.
	Offload *offload.Stats `json:"offload,omitempty"`
	Config  ConfigState    `json:"config"`
	// NATMappings are the endpoint-independent NAT mappings' counters.
	NATMappings nat.MappingStats `json:"nat_mappings"`
	// OVN is OVN mode's state (ovn.Status: connections, routers served,
	// claimed ports, unsupported objects); absent in YAML mode.
	OVN any `json:"ovn,omitempty"`
}

// Worker is one forwarding thread (one RX queue index).
type Worker struct {
	Worker int `json:"worker"`
	// TID is the Linux thread the worker is locked to; 0 until it started.
	TID int `json:"tid"`
	// BusySeconds is the thread's CPU time. A worker spins while it has
	// traffic and sleeps in ppoll when it has none, so CPU time is its
	// busy time; its rate over wall time is the busy ratio.
	BusySeconds float64 `json:"busy_seconds"`
}

// ConfigState is the running configuration's provenance and the history
// of reloads (SIGHUP or xgw reload).
type ConfigState struct {
	File           string `json:"file"`
	Reloads        uint64 `json:"reloads"`         // applied
	ReloadFailures uint64 `json:"reload_failures"` // refused: the running config stayed
	LastReload     int64  `json:"last_reload_unix,omitempty"`
	LastError      string `json:"last_error,omitempty"`
	// DrainingNATAddrs are NAT addresses a reload removed that are still
	// steered and routed because connections use them; each goes when its
	// last connection does.
	DrainingNATAddrs []string `json:"draining_nat_addresses"`
}

// Pipeline is datapath.Stats with names instead of indices.
type Pipeline struct {
	Verdicts map[string]uint64 `json:"verdicts"` // drop, tx, pass, held
	Bytes    map[string]uint64 `json:"bytes"`    // per verdict, frames as the pipeline left them (tx: as sent)
	Drops    map[string]uint64 `json:"drops"`    // by reason, every reason present
	RX       map[string]uint64 `json:"rx"`       // by pipeline port: underlay, external
	TX       map[string]uint64 `json:"tx"`
	Egress   uint64            `json:"egress"`  // Geneve forwarded to the external side, both families
	Ingress  uint64            `json:"ingress"` // external forwarded to a chassis, both families
	Hairpin  uint64            `json:"hairpin"` // Geneve to a NAT address, back to a chassis
	// Forwarded splits egress, ingress and hairpin by the routed
	// packet's family: family ("ipv4", "ipv6") -> direction -> count.
	Forwarded map[string]map[string]datapath.Count `json:"forwarded"`
	ARPReply  uint64                               `json:"arp_replies"` // over Geneve, for join-port addresses
	// ARPReplyExternal: on the external side, for NAT addresses.
	ARPReplyExternal uint64 `json:"arp_replies_external"`
	ICMPOut          uint64 `json:"icmp_sent"` // ICMP the routers generated
	// HoldSent counts packets held for an unresolved next hop (verdict
	// held) and sent once it resolved.
	HoldSent uint64 `json:"hold_sent"`
	// Fragments: what the fragment table did, by event (ipfrag.Stats),
	// drops of held fragments (timeout, first dropped) included; and the
	// datagrams in progress and fragments held now.
	Fragments        map[string]uint64 `json:"fragments"`
	FragDatagrams    uint64            `json:"fragment_datagrams"`
	FragmentsHeldNow uint64            `json:"fragments_held"`
}

// XDP is one interface's xdp_gw counters.
type XDP struct {
	Interface string    `json:"interface"`
	Stats     bpf.Stats `json:"stats"`
}

// PipelineStats names the counters of s.
func PipelineStats(s datapath.Stats) Pipeline {
	p := Pipeline{
		Verdicts:         make(map[string]uint64, len(s.Verdicts)),
		Bytes:            make(map[string]uint64, len(s.Verdicts)),
		Drops:            make(map[string]uint64, len(s.Drops)),
		RX:               make(map[string]uint64, len(s.RX)),
		TX:               make(map[string]uint64, len(s.TX)),
		Egress:           s.Egress,
		Ingress:          s.Ingress,
		Hairpin:          s.Hairpin,
		ARPReply:         s.ARPReply,
		ARPReplyExternal: s.ARPReplyExternal,
		ICMPOut:          s.ICMPOut,
		HoldSent:         s.HoldSent,
		Fragments:        map[string]uint64{},
		FragDatagrams:    s.Fragments.Datagrams,
		FragmentsHeldNow: s.Fragments.HeldNow,
	}
	p.Forwarded = make(map[string]map[string]datapath.Count, datapath.NumFamilies)
	for f := range datapath.NumFamilies {
		m := make(map[string]datapath.Count, datapath.NumDirections)
		for d := range datapath.NumDirections {
			m[d.String()] = s.Forwarded[f][d]
		}
		p.Forwarded[f.String()] = m
	}
	for _, e := range s.Fragments.Events() {
		p.Fragments[e.Name] = e.Value
	}
	for i, n := range s.Verdicts {
		p.Verdicts[datapath.Verdict(i).String()] = n
		p.Bytes[datapath.Verdict(i).String()] = s.Bytes[i]
	}
	for i, n := range s.Drops {
		if d := datapath.Drop(i); d != datapath.DropNone {
			p.Drops[d.String()] = n
		}
	}
	for i := range s.RX {
		p.RX[flow.Port(i).String()] = s.RX[i]
		p.TX[flow.Port(i).String()] = s.TX[i]
	}
	return p
}
