// Package report holds the benchmark's result document (one JSON file per
// run) and renders it: the markdown table (latest.md) and PNG plots. It is
// pure: the harness fills a Run, this package only reads it.
package report

import (
	"encoding/json"
	"os"
	"sort"
	"time"
)

// Run is one `xgw-bench` invocation: every system on every scenario, on the
// same machine, in the same minutes. All ratios are taken inside one Run.
type Run struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Commit   string    `json:"commit"`
	Host     Host      `json:"host"`
	Params   Params    `json:"params"`
	Notes    []string  `json:"notes,omitempty"` // caveats that apply to the whole run
	Results  []Result  `json:"results"`
}

// Host describes the machine.
type Host struct {
	Kernel string `json:"kernel"`
	CPUs   int    `json:"cpus"`
	Go     string `json:"go"`
	Lab    bool   `json:"lab"` // veth lab (true) or real NICs
}

// Params are the run's knobs.
type Params struct {
	Quick     bool     `json:"quick"`
	Duration  float64  `json:"duration_seconds"`
	Flows     int      `json:"flows"`
	Size      int      `json:"size_bytes"` // inner frame, what the VM sends
	Rate      float64  `json:"rate_pps"`   // 0 = as fast as possible
	Scenarios []string `json:"scenarios"`
	Systems   []string `json:"systems"`
	Repeat    int      `json:"repeat,omitempty"` // runs per system of the repeated scenarios
}

// Result is one system on one scenario.
type Result struct {
	Scenario string `json:"scenario"`
	System   string `json:"system"`
	// Status is "ok", "skipped" (does not apply, e.g. TCP through the XDP
	// ceiling) or "failed" (Error says why).
	Status string   `json:"status"`
	Error  string   `json:"error,omitempty"`
	Notes  []string `json:"notes,omitempty"`
	// Metrics by the keys below; a key that is absent was not measured.
	Metrics map[string]float64 `json:"metrics"`
	// Repeats > 1: the result is the median run (by the scenario's primary
	// metric) of that many; RepeatValues are every run's primary metric.
	Repeats      int       `json:"repeats,omitempty"`
	RepeatValues []float64 `json:"repeat_values,omitempty"`
	// Raw keeps what the figures were computed from (counters before and
	// after, tool output), for audit.
	Raw map[string]any `json:"raw,omitempty"`
}

// Metric keys. Rates are per second of the measured interval.
const (
	Sent         = "sent_packets"
	Delivered    = "delivered_packets"
	PPS          = "delivered_pps"
	Gbps         = "delivered_gbps" // L2 bytes at the receiver (no FCS), ×8
	Loss         = "loss"           // 1 - delivered/sent
	GWCores      = "gateway_cores"  // user+system of the gateway's processes
	SoftIRQCores = "softirq_cores"  // softirq on all CPUs
	GenCores     = "generator_cores"
	SinkCores    = "sink_cores"
	BusyCores    = "busy_cores"            // the whole machine
	GWNapiCores  = "gateway_napi_cores"    // the gateway's interfaces' NAPI threads (threaded NAPI)
	PPSPerCore   = "pps_per_gw_core"       // PPS / (gateway + gateway NAPI + softirq cores)
	GWNsPerPkt   = "gateway_ns_per_packet" // (gateway + gateway NAPI + softirq cores) × 1e9 / PPS
	GenBound     = "generator_bound"       // 1: loss < 1 % with the gateway below 0.9 cores
	FastShare    = "fast_path_share"       // fraction of delivered packets that never reached the gateway's software
	TableEntries = "table_entries_max"     // connection-table entries, highest sample
	RRPPS        = "responses_pps"
	RTTP50       = "rtt_p50_us"
	RTTP90       = "rtt_p90_us"
	RTTP99       = "rtt_p99_us"
	CPS          = "cps" // connections validated at both ends per second
	CPSClient    = "cps_client_established"
	CPSServer    = "cps_server_accepted"
	CCHeld       = "cc_held"
	CCVerified   = "cc_verified" // held connections that passed data both ways
	IperfGbps    = "iperf_gbps"
	IperfLoss    = "iperf_loss"
	// WarmupAnswered: answers the reflector sent back during the fastpath
	// scenario's warm-up (the flows were established before the flood).
	WarmupAnswered = "warmup_answered"
)

// Lookup returns the result of system on scenario.
func (r *Run) Lookup(scenario, system string) *Result {
	for i := range r.Results {
		if r.Results[i].Scenario == scenario && r.Results[i].System == system {
			return &r.Results[i]
		}
	}
	return nil
}

// ScenarioNames lists scenarios in the order they were run.
func (r *Run) ScenarioNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, res := range r.Results {
		if !seen[res.Scenario] {
			seen[res.Scenario] = true
			out = append(out, res.Scenario)
		}
	}
	return out
}

// SystemNames lists systems in the order they were run.
func (r *Run) SystemNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, res := range r.Results {
		if !seen[res.System] {
			seen[res.System] = true
			out = append(out, res.System)
		}
	}
	return out
}

// WriteJSON writes the run to path.
func (r *Run) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads a run written by WriteJSON.
func ReadJSON(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Run
	return &r, json.Unmarshal(b, &r)
}

// Percentile returns the p-th percentile (0..100) of a histogram of
// bucketWidth-wide buckets, as the upper edge of the bucket that holds it,
// and false when the histogram is empty.
func Percentile(hist []uint64, bucketWidth, p float64) (float64, bool) {
	var total uint64
	for _, v := range hist {
		total += v
	}
	if total == 0 {
		return 0, false
	}
	// The rank of the p-th percentile, 1-based, nearest-rank method.
	rank := uint64(p / 100 * float64(total))
	if float64(rank) < p/100*float64(total) || rank == 0 {
		rank++
	}
	var acc uint64
	for i, v := range hist {
		acc += v
		if acc >= rank {
			return float64(i+1) * bucketWidth, true
		}
	}
	return float64(len(hist)) * bucketWidth, true
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
