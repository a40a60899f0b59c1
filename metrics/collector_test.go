package metrics

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/control"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/datapath/afxdp"
	"github.com/xgw-dev/xgw/datapath/engine"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/neigh"
)

// fakeSource serves a stats document that a test edits between scrapes.
type fakeSource struct {
	s   control.Stats
	err error
}

func (f *fakeSource) Stats() (control.Stats, error) { return f.s, f.err }

func doc() control.Stats {
	var ds datapath.Stats
	ds.Verdicts[datapath.VerdictTX] = 1000
	ds.Verdicts[datapath.VerdictDrop] = 7
	ds.Drops[datapath.DropNeighMiss] = 5
	ds.Drops[datapath.DropNATExhausted] = 2
	ds.RX[flow.Underlay] = 600
	ds.TX[flow.External] = 590
	ds.Egress, ds.Ingress = 590, 410
	ds.Forwarded[datapath.FamilyIPv4][datapath.DirEgress] = datapath.Count{Packets: 500, Bytes: 50000}
	ds.Forwarded[datapath.FamilyIPv6][datapath.DirEgress] = datapath.Count{Packets: 90, Bytes: 11000}
	ds.Forwarded[datapath.FamilyIPv4][datapath.DirIngress] = datapath.Count{Packets: 400, Bytes: 60000}
	ds.Forwarded[datapath.FamilyIPv6][datapath.DirIngress] = datapath.Count{Packets: 10, Bytes: 1500}
	ds.ARPReply, ds.ARPReplyExternal = 2, 3
	ds.Verdicts[datapath.VerdictHeld], ds.Held, ds.HoldSent = 4, 4, 3
	ds.Drops[datapath.DropNeighTimeout] = 1
	p := control.PipelineStats(ds)
	p.Bytes["tx"] = 123456
	s := control.Stats{
		Version:    "v-test",
		Pipeline:   p,
		Engine:     engine.Stats{Frames: 1007, Batches: 40, TxInPlace: 3, TxCopied: 997, TxRingFull: 1},
		Conntrack:  conntrack.Stats{Capacity: 1024, Entries: 6, Created: 9, Expired: 3, NoReplyDrops: 2, InvalidPackets: 4},
		Conntrack6: conntrack.Stats{Capacity: 512, Entries: 2, Created: 5, Expired: 3, FullDrops: 1},
		Ports: []engine.PortStats{{Interface: "gw-u", Queue: 0, Stats: afxdp.Stats{RxPackets: 600, TxPackets: 410, TxCompleted: 409,
			RxKicks: 1, TxKicks: 12, RxRingFull: 8, FillRingEmpty: 2}}},
		XDP: []control.XDP{{Interface: "gw-x", Stats: bpf.Stats{RedirectNAT: bpf.Counter{Packets: 410, Bytes: 41000}, Pass: bpf.Counter{Packets: 3, Bytes: 180},
			RedirectARP: bpf.Counter{Packets: 3, Bytes: 180}, RedirectND: bpf.Counter{Packets: 6, Bytes: 516},
			RedirectRouted: bpf.Counter{Packets: 7, Bytes: 700},
			FastPath:       fastPath()}},
			// The second interface's program shares the fast path: the
			// same numbers, which must not be counted twice.
			{Interface: "gw-u", Stats: bpf.Stats{FastPath: fastPath()}}},
		Neighbors: neigh.Stats{Entries: 2, Misses: 5, Resolutions: 1},
		Workers:   []control.Worker{{Worker: 0, TID: 42, BusySeconds: 10}, {Worker: 1, TID: 43, BusySeconds: 1}},
		Config:    control.ConfigState{Reloads: 2, ReloadFailures: 1, LastReload: 1700000000, DrainingNATAddrs: []string{"203.0.113.10"}},
	}
	s.NATMappings = nat.MappingStats{Live: 2, Created: 3, Reused: 7, Released: 1}
	return s
}

func fastPath() bpf.FastPathStats {
	fp := bpf.FastPathStats{HitEgress: bpf.Counter{Packets: 5000, Bytes: 610000}, HitIngress: bpf.Counter{Packets: 4000, Bytes: 256000},
		Miss: bpf.Counter{Packets: 77}, HitEgress6: bpf.Counter{Packets: 300, Bytes: 42000}, HitIngress6: bpf.Counter{Packets: 200, Bytes: 31000},
		Miss6: bpf.Counter{Packets: 8}}
	fp.Punts[bpf.PuntFIN] = bpf.Counter{Packets: 2}
	fp.Punts[bpf.PuntChecksum] = bpf.Counter{Packets: 9}
	return fp
}

// TestCollectorAgreesWithStats checks that each series is the stats
// document's number, under the documented name and labels.
func TestCollectorAgreesWithStats(t *testing.T) {
	now := time.Unix(1000, 0)
	src := &fakeSource{s: doc()}
	zoneCalls := 0
	c := NewCollector(src, Options{
		Zones:      func() map[uint16]int { zoneCalls++; return map[uint16]int{6: 3, 16: 3} },
		ZoneMaxAge: 10 * time.Second,
		Now:        func() time.Time { return now },
	})
	if probs, err := testutil.CollectAndLint(c); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %+v", err, probs)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := map[string]float64{
		`xgw_build_info{version="v-test"}`:                                               1,
		`xgw_pipeline_packets_total{verdict="tx"}`:                                       1000,
		`xgw_pipeline_packets_total{verdict="drop"}`:                                     7,
		`xgw_pipeline_packets_total{verdict="pass"}`:                                     0,
		`xgw_pipeline_bytes_total{verdict="tx"}`:                                         123456,
		`xgw_pipeline_drops_total{reason="neighbor-miss"}`:                               5,
		`xgw_pipeline_packets_total{verdict="held"}`:                                     4,
		`xgw_pipeline_hold_sent_total`:                                                   3,
		`xgw_pipeline_drops_total{reason="neighbor-hold-timeout"}`:                       1,
		`xgw_nat_mappings`:                                                               2,
		`xgw_nat_mapping_events_total{event="reused"}`:                                   7,
		`xgw_nat_mapping_events_total{event="released"}`:                                 1,
		`xgw_pipeline_drops_total{reason="ct-full"}`:                                     0,
		`xgw_pipeline_rx_packets_total{side="underlay"}`:                                 600,
		`xgw_pipeline_tx_packets_total{side="external"}`:                                 590,
		`xgw_pipeline_forwarded_packets_total{direction="ingress",family="ipv4"}`:        400,
		`xgw_pipeline_forwarded_packets_total{direction="ingress",family="ipv6"}`:        10,
		`xgw_pipeline_forwarded_packets_total{direction="egress",family="ipv6"}`:         90,
		`xgw_pipeline_forwarded_packets_total{direction="hairpin",family="ipv4"}`:        0,
		`xgw_pipeline_forwarded_bytes_total{direction="egress",family="ipv4"}`:           50000,
		`xgw_pipeline_forwarded_bytes_total{direction="egress",family="ipv6"}`:           11000,
		`xgw_nat_port_allocation_failures_total{family="ipv4"}`:                          2,
		`xgw_nat_port_allocation_failures_total{family="ipv6"}`:                          0,
		`xgw_conntrack_entries{family="ipv4"}`:                                           6,
		`xgw_conntrack_entries{family="ipv6"}`:                                           2,
		`xgw_conntrack_zone_entries{zone="16"}`:                                          3,
		`xgw_conntrack_capacity{family="ipv4"}`:                                          1024,
		`xgw_conntrack_capacity{family="ipv6"}`:                                          512,
		`xgw_conntrack_created_total{family="ipv6"}`:                                     5,
		`xgw_conntrack_full_drops_total{family="ipv6"}`:                                  1,
		`xgw_conntrack_invalid_packets_total{family="ipv4"}`:                             4,
		`xgw_neighbor_misses_total`:                                                      5,
		`xgw_engine_tx_frames_total{path="copied"}`:                                      997,
		`xgw_engine_drops_total{reason="tx_ring_full"}`:                                  1,
		`xgw_afxdp_rx_packets_total{interface="gw-u",queue="0"}`:                         600,
		`xgw_afxdp_kernel_drops_total{interface="gw-u",queue="0",reason="rx_ring_full"}`: 8,
		`xgw_afxdp_wakeups_total{interface="gw-u",queue="0",ring="tx"}`:                  12,
		`xgw_xdp_packets_total{action="redirect_nat",interface="gw-x"}`:                  410,
		`xgw_xdp_bytes_total{action="pass",interface="gw-x"}`:                            180,
		`xgw_xdp_packets_total{action="redirect_arp",interface="gw-x"}`:                  3,
		`xgw_xdp_packets_total{action="redirect_nd",interface="gw-x"}`:                   6,
		`xgw_xdp_bytes_total{action="redirect_nd",interface="gw-x"}`:                     516,
		`xgw_xdp_packets_total{action="redirect_routed",interface="gw-x"}`:               7,
		`xgw_pipeline_arp_replies_total{side="underlay"}`:                                2,
		`xgw_pipeline_arp_replies_total{side="external"}`:                                3,
		`xgw_fastpath_packets_total{direction="egress",family="ipv4"}`:                   5000,
		`xgw_fastpath_packets_total{direction="ingress",family="ipv4"}`:                  4000,
		`xgw_fastpath_bytes_total{direction="ingress",family="ipv4"}`:                    256000,
		`xgw_fastpath_packets_total{direction="egress",family="ipv6"}`:                   300,
		`xgw_fastpath_packets_total{direction="ingress",family="ipv6"}`:                  200,
		`xgw_fastpath_bytes_total{direction="egress",family="ipv6"}`:                     42000,
		`xgw_fastpath_bytes_total{direction="ingress",family="ipv6"}`:                    31000,
		`xgw_fastpath_misses_total{family="ipv4"}`:                                       77,
		`xgw_fastpath_misses_total{family="ipv6"}`:                                       8,
		`xgw_fastpath_punts_total{reason="fin"}`:                                         2,
		`xgw_fastpath_punts_total{reason="checksum"}`:                                    9,
		`xgw_fastpath_punts_total{reason="syn"}`:                                         0,
		`xgw_worker_busy_seconds_total{worker="0"}`:                                      10,
		`xgw_worker_busy_ratio{worker="0"}`:                                              0, // one sample: no window yet
		`xgw_config_reloads_total{result="refused"}`:                                     1,
		`xgw_config_last_reload_timestamp_seconds`:                                       1700000000,
		`xgw_nat_draining_addresses`:                                                     1,
	}
	check(t, reg, want)

	// Two seconds later: worker 0 burnt 1.5 s of CPU, worker 1 none.
	now = now.Add(2 * time.Second)
	src.s.Workers[0].BusySeconds = 11.5
	check(t, reg, map[string]float64{
		`xgw_worker_busy_ratio{worker="0"}`: 0.75,
		`xgw_worker_busy_ratio{worker="1"}`: 0,
	})
	// A scrape within the minimum window repeats the last ratio.
	now = now.Add(100 * time.Millisecond)
	src.s.Workers[0].BusySeconds = 11.6
	check(t, reg, map[string]float64{`xgw_worker_busy_ratio{worker="0"}`: 0.75})
	if zoneCalls != 1 {
		t.Errorf("zone counter called %d times within ZoneMaxAge, want 1", zoneCalls)
	}
	now = now.Add(10 * time.Second)
	check(t, reg, map[string]float64{`xgw_conntrack_zone_entries{zone="6"}`: 3})
	if zoneCalls != 2 {
		t.Errorf("zone counter called %d times after ZoneMaxAge, want 2", zoneCalls)
	}
}

// TestCollectorStatsError: a failing read still serves what it has, and
// says so.
func TestCollectorStatsError(t *testing.T) {
	src := &fakeSource{s: doc(), err: errors.New("XDP stats of gw-x: boom")}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src, Options{}))
	check(t, reg, map[string]float64{`xgw_stats_error`: 1, `xgw_pipeline_packets_total{verdict="tx"}`: 1000})
}

func TestOffloadCollector(t *testing.T) {
	c := NewOffloadCollector(func() OffloadStats {
		return OffloadStats{Entries: 4, Promotions: map[string]uint64{"established": 3, "udp_oneway": 2}, Withdrawals: map[string]uint64{"fin": 1}}
	})
	if probs, err := testutil.CollectAndLint(c); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %+v", err, probs)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	check(t, reg, map[string]float64{
		`xgw_offload_entries`: 4, `xgw_offload_promotions_total{reason="udp_oneway"}`: 2, `xgw_offload_withdrawals_total{reason="fin"}`: 1,
	})
}

// TestServer scrapes over HTTP, as Prometheus would.
func TestServer(t *testing.T) {
	reg := NewRegistry(NewCollector(&fakeSource{s: doc()}, Options{}))
	s, err := Listen("127.0.0.1:0", reg, discard())
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Close(t.Context())
	resp, err := http.Get("http://" + s.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{
		"# HELP xgw_pipeline_packets_total Frames the software pipeline decided on",
		"# TYPE xgw_pipeline_packets_total counter",
		`xgw_pipeline_packets_total{verdict="tx"} 1000`,
		"go_goroutines ", "process_open_fds ",
	} {
		if !strings.Contains(string(body), w) {
			t.Errorf("scrape lacks %q", w)
		}
	}
	if _, err := Listen(s.Addr().String(), reg, discard()); err == nil {
		t.Error("second Listen on a bound address succeeded")
	}
}

// check gathers reg and compares the named series.
func check(t *testing.T, reg prometheus.Gatherer, want map[string]float64) {
	t.Helper()
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil && !strings.Contains(err.Error(), "stats_error") {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
			}
			key := mf.GetName()
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			}
		}
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("no series %s", k)
			continue
		}
		if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
}
