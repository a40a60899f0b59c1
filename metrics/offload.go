package metrics

import "github.com/prometheus/client_golang/prometheus"

// OffloadStats are the offload manager's counters, in the shape the
// metrics need; the gateway fills them from the manager's.
type OffloadStats struct {
	// Entries are the connections currently in the XDP fast path.
	Entries int
	// Promotions count connections committed to the fast path, by why
	// (e.g. "established", "udp_oneway").
	Promotions map[string]uint64
	// Withdrawals count connections taken out of it, by why (e.g. "fin",
	// "rst", "expired", "reload").
	Withdrawals map[string]uint64
}

var (
	dOffEntries     = desc("offload_entries", "Connections currently offloaded to the XDP fast path.")
	dOffPromotions  = desc("offload_promotions_total", "Connections committed to the XDP fast path, by reason.", "reason")
	dOffWithdrawals = desc("offload_withdrawals_total", "Connections withdrawn from the XDP fast path, by reason.", "reason")
)

// OffloadCollector exports OffloadStats read at scrape time. It is a
// separate collector so that the gateway registers it only when the
// offload manager runs:
//
//	reg.MustRegister(metrics.NewOffloadCollector(func() metrics.OffloadStats { ... }))
type OffloadCollector struct{ read func() OffloadStats }

// NewOffloadCollector returns a collector that calls read at every scrape.
func NewOffloadCollector(read func() OffloadStats) *OffloadCollector {
	return &OffloadCollector{read: read}
}

// Describe implements prometheus.Collector.
func (c *OffloadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dOffEntries
	ch <- dOffPromotions
	ch <- dOffWithdrawals
}

// Collect implements prometheus.Collector.
func (c *OffloadCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.read()
	ch <- prometheus.MustNewConstMetric(dOffEntries, prometheus.GaugeValue, float64(s.Entries))
	for r, n := range s.Promotions {
		ch <- prometheus.MustNewConstMetric(dOffPromotions, prometheus.CounterValue, float64(n), r)
	}
	for r, n := range s.Withdrawals {
		ch <- prometheus.MustNewConstMetric(dOffWithdrawals, prometheus.CounterValue, float64(n), r)
	}
}
