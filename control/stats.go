package control

import (
	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/datapath/engine"
	"github.com/xgw-dev/xgw/neigh"
)

// Stats is the /stats document. Sections from other packages keep their Go
// field names; the pipeline's enumerated counters are keyed by their stable
// names (the metric labels) so that scripts need not know the enum order.
type Stats struct {
	Version   string             `json:"version"`
	Uptime    float64            `json:"uptime_seconds"`
	Pipeline  Pipeline           `json:"pipeline"`
	Engine    engine.Stats       `json:"engine"`
	Conntrack conntrack.Stats    `json:"conntrack"`
	Ports     []engine.PortStats `json:"afxdp_ports"`
	XDP       []XDP              `json:"xdp"`
	Neighbors neigh.Stats        `json:"neighbors"`
}

// Pipeline is datapath.Stats with names instead of indices.
type Pipeline struct {
	Verdicts map[string]uint64 `json:"verdicts"` // drop, tx, pass
	Drops    map[string]uint64 `json:"drops"`    // by reason, every reason present
	RX       map[string]uint64 `json:"rx"`       // by pipeline port: underlay, external
	TX       map[string]uint64 `json:"tx"`
	Egress   uint64            `json:"egress"`  // Geneve forwarded to the external side
	Ingress  uint64            `json:"ingress"` // external forwarded to a chassis
	ARPReply uint64            `json:"arp_replies"`
}

// XDP is one interface's xdp_gw counters.
type XDP struct {
	Interface string    `json:"interface"`
	Stats     bpf.Stats `json:"stats"`
}

// PipelineStats names the counters of s.
func PipelineStats(s datapath.Stats) Pipeline {
	p := Pipeline{
		Verdicts: make(map[string]uint64, len(s.Verdicts)),
		Drops:    make(map[string]uint64, len(s.Drops)),
		RX:       make(map[string]uint64, len(s.RX)),
		TX:       make(map[string]uint64, len(s.TX)),
		Egress:   s.Egress,
		Ingress:  s.Ingress,
		ARPReply: s.ARPReply,
	}
	for i, n := range s.Verdicts {
		p.Verdicts[datapath.Verdict(i).String()] = n
	}
	for i, n := range s.Drops {
		if d := datapath.Drop(i); d != datapath.DropNone {
			p.Drops[d.String()] = n
		}
	}
	for i := range s.RX {
		p.RX[datapath.PortID(i).String()] = s.RX[i]
		p.TX[datapath.PortID(i).String()] = s.TX[i]
	}
	return p
}
