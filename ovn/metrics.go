package ovn

import "github.com/prometheus/client_golang/prometheus"

// collector exports the controller's state on the gateway's /metrics.
type collector struct {
	c                                      *Controller
	connected, disconnects, routers, probs *prometheus.Desc
	syncs                                  *prometheus.Desc
}

// Collector returns the Prometheus collector of c: xgw_ovn_connected{db},
// xgw_ovn_disconnects_total{db}, xgw_ovn_routers, xgw_ovn_unsupported and
// xgw_ovn_syncs_total.
func (c *Controller) Collector() prometheus.Collector {
	return &collector{c: c,
		connected:   prometheus.NewDesc("xgw_ovn_connected", "1 while the OVN database connection is up.", []string{"db"}, nil),
		disconnects: prometheus.NewDesc("xgw_ovn_disconnects_total", "OVN database connections lost.", []string{"db"}, nil),
		routers:     prometheus.NewDesc("xgw_ovn_routers", "Gateway routers served by this chassis.", nil, nil),
		probs:       prometheus.NewDesc("xgw_ovn_unsupported", "Objects met in the OVN databases that xgw does not support.", nil, nil),
		syncs:       prometheus.NewDesc("xgw_ovn_syncs_total", "Translated topologies applied.", nil, nil),
	}
}

func (m *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.connected, m.disconnects, m.routers, m.probs, m.syncs} {
		ch <- d
	}
}

func (m *collector) Collect(ch chan<- prometheus.Metric) {
	s := m.c.Status()
	for _, db := range []string{"nb", "sb"} {
		v := 0.0
		if s.Connected[db] {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.connected, prometheus.GaugeValue, v, db)
		ch <- prometheus.MustNewConstMetric(m.disconnects, prometheus.CounterValue, float64(s.Disconnects[db]), db)
	}
	ch <- prometheus.MustNewConstMetric(m.routers, prometheus.GaugeValue, float64(len(s.Served)))
	ch <- prometheus.MustNewConstMetric(m.probs, prometheus.GaugeValue, float64(len(s.Problems)))
	ch <- prometheus.MustNewConstMetric(m.syncs, prometheus.CounterValue, float64(s.Syncs))
}
