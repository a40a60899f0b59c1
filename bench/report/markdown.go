package report

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Column is one column of a scenario's table.
type Column struct {
	Key    string
	Header string
	Format func(float64) string
}

// ScenarioInfo describes how a scenario is shown.
type ScenarioInfo struct {
	Title   string
	Primary string // the metric the ratios are taken on
	Columns []Column
}

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
func fmtF2(v float64) string  { return fmt.Sprintf("%.2f", v) }
func fmtF3(v float64) string  { return fmt.Sprintf("%.3f", v) }
func fmtPct(v float64) string { return fmt.Sprintf("%.1f %%", 100*v) }
func fmtInt(v float64) string { return fmt.Sprintf("%.0f", v) }
func fmtUS(v float64) string  { return fmt.Sprintf("%.0f µs", v) }
func fmtNS(v float64) string  { return fmt.Sprintf("%.0f ns", v) }
func fmtYes(v float64) string {
	if v > 0 {
		return "**yes**"
	}
	return "no"
}

var cpuColumns = []Column{
	{GWCores, "gw procs (cores)", fmtF2},
	{GWNapiCores, "gw NAPI (cores)", fmtF2},
	{SoftIRQCores, "softirq (cores)", fmtF2},
	{GenCores, "generator (cores)", fmtF2},
	{BusyCores, "machine busy (cores)", fmtF2},
}

// onewayColumns are the one-way flood's columns (udp-oneway and its IPv6
// twins).
var onewayColumns = append([]Column{
	{PPS, "delivered pps", fmtRate}, {Gbps, "Gbit/s", fmtF3}, {Loss, "loss", fmtPct},
}, append(cpuColumns,
	Column{PPSPerCore, "pps per gw core", fmtRate},
	Column{GWNsPerPkt, "gw CPU per pkt", fmtNS},
	Column{GenBound, "generator-bound", fmtYes},
	Column{FastShare, "fast-path share", fmtPct},
	Column{TableEntries, "table entries", fmtInt})...)

// Scenarios are the known scenarios' titles and columns, in display order.
var Scenarios = map[string]ScenarioInfo{
	"udp-oneway": {
		Title:   "UDP one-way flood (dperf-like, the seed: N flows of small packets, never answered)",
		Primary: PPS,
		Columns: onewayColumns,
	},
	"udp-oneway6": {
		Title:   "UDP one-way flood over IPv6 (the seed's scenario with an IPv6 overlay, NAT66, Geneve over the IPv4 underlay; delivered = arrived from the NAT66 address)",
		Primary: PPS,
		Columns: onewayColumns,
	},
	"udp-oneway6o6": {
		Title:   "UDP one-way flood over IPv6 on the IPv6 underlay (as udp-oneway6, Geneve over IPv6 with outer UDP checksums)",
		Primary: PPS,
		Columns: onewayColumns,
	},
	"fastpath": {
		Title:   "Fast-path forwarding (the offload issue's benchmark): 64-byte one-way UDP on flows established first (answered through the reflector, then given time to be offloaded)",
		Primary: PPS,
		Columns: append([]Column{
			{PPS, "delivered pps", fmtRate}, {Loss, "loss", fmtPct},
		}, append(cpuColumns,
			Column{PPSPerCore, "pps per gw core", fmtRate},
			Column{GWNsPerPkt, "gw CPU per pkt", fmtNS},
			Column{GenBound, "generator-bound", fmtYes},
			Column{FastShare, "fast-path share", fmtPct},
			Column{WarmupAnswered, "warm-up answers", fmtInt},
			Column{TableEntries, "table entries", fmtInt})...),
	},
	"udp-rr": {
		Title:   "UDP request/response (dperf-like; an XDP reflector in ext answers; RTT from generator timestamps)",
		Primary: RRPPS,
		Columns: append([]Column{
			{RRPPS, "responses/s", fmtRate}, {Loss, "loss", fmtPct},
			{RTTP50, "RTT p50", fmtUS}, {RTTP90, "RTT p90", fmtUS}, {RTTP99, "RTT p99", fmtUS},
		}, append(cpuColumns,
			Column{FastShare, "fast-path share", fmtPct},
			Column{TableEntries, "table entries", fmtInt})...),
	},
	"iperf3-tcp": {
		Title:   "iperf3 TCP from the VM through the real OVS hypervisor",
		Primary: IperfGbps,
		Columns: append([]Column{{IperfGbps, "Gbit/s", fmtF3}}, append(cpuColumns,
			Column{FastShare, "fast-path share", fmtPct})...),
	},
	"iperf3-udp": {
		Title:   "iperf3 UDP from the VM through the real OVS hypervisor",
		Primary: IperfGbps,
		Columns: append([]Column{{IperfGbps, "Gbit/s", fmtF3}, {IperfLoss, "loss", fmtPct}}, append(cpuColumns,
			Column{FastShare, "fast-path share", fmtPct})...),
	},
	"tcp-cps": {
		Title:   "TCP connection setup rate (RFC 9693 style: counted only when seen at both ends)",
		Primary: CPS,
		Columns: append([]Column{{CPS, "conn/s", fmtRate}, {CPSClient, "client established", fmtInt},
			{CPSServer, "server accepted", fmtInt}}, append(cpuColumns,
			Column{TableEntries, "table entries", fmtInt})...),
	},
	"tcp-cc": {
		Title:   "TCP concurrent connections (held open, each verified to pass data both ways)",
		Primary: CCVerified,
		Columns: append([]Column{{CCHeld, "held", fmtInt}, {CCVerified, "verified", fmtInt}},
			append(cpuColumns, Column{TableEntries, "table entries", fmtInt})...),
	},
}

// WriteMarkdown renders the run: a header, the caveats, then per scenario
// the systems' figures and the matrix of ratios of its primary metric.
func WriteMarkdown(w io.Writer, r *Run) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# xgw benchmark: %s, commit %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Commit)
	mode := "veth lab (network namespaces)"
	if !r.Host.Lab {
		mode = "real NICs"
	}
	fmt.Fprintf(&b, "Linux %s, %d CPUs, %s, %s. ", r.Host.Kernel, r.Host.CPUs, r.Host.Go, mode)
	fmt.Fprintf(&b, "Flows %d, inner frame %d B, rate %s, %gs per measurement%s. ",
		r.Params.Flows, r.Params.Size, rateText(r.Params.Rate), r.Params.Duration, map[bool]string{true: " (quick)", false: ""}[r.Params.Quick])
	fmt.Fprintf(&b, "Took %s.\n\n", r.Finished.Sub(r.Started).Round(1e9))
	if len(r.Notes) > 0 {
		b.WriteString("Caveats:\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	for _, sc := range r.ScenarioNames() {
		writeScenario(&b, r, sc)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func rateText(r float64) string {
	if r <= 0 {
		return "unlimited"
	}
	return fmtRate(r) + "pps"
}

func writeScenario(b *strings.Builder, r *Run, sc string) {
	info, ok := Scenarios[sc]
	if !ok {
		info = ScenarioInfo{Title: sc}
		for _, res := range r.Results {
			if res.Scenario == sc {
				for _, k := range sortedKeys(res.Metrics) {
					info.Columns = append(info.Columns, Column{k, k, fmtF3})
				}
				break
			}
		}
	}
	fmt.Fprintf(b, "## %s\n\n%s\n\n", sc, info.Title)
	b.WriteString("| system |")
	for _, c := range info.Columns {
		fmt.Fprintf(b, " %s |", c.Header)
	}
	b.WriteString(" notes |\n|---|")
	for range info.Columns {
		b.WriteString("---:|")
	}
	b.WriteString("---|\n")
	var notes []string
	for _, sys := range r.SystemNames() {
		res := r.Lookup(sc, sys)
		if res == nil {
			continue
		}
		fmt.Fprintf(b, "| %s |", sys)
		if res.Repeats > 1 {
			notes = append(notes, fmt.Sprintf("%s: median of %d runs by %s (the row is that run); all: %s", sys, res.Repeats, info.Primary, fmtList(res.RepeatValues, info.Primary)))
		}
		for _, c := range info.Columns {
			v, ok := res.Metrics[c.Key]
			if !ok || res.Status != "ok" || math.IsNaN(v) {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(b, " %s |", c.Format(v))
		}
		note := res.Status
		if res.Status == "ok" {
			note = ""
		}
		if res.Error != "" {
			note += ": " + oneLine(res.Error)
		}
		for _, n := range res.Notes {
			notes = append(notes, fmt.Sprintf("%s: %s", sys, n))
		}
		fmt.Fprintf(b, " %s |\n", note)
	}
	b.WriteString("\n")
	for _, n := range notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}
	writeRatios(b, r, sc, info.Primary)
	if info.Primary == PPS {
		// The per-core figure is what compares gateways whose delivered
		// rate the generator (or the shared machine) capped.
		writeRatios(b, r, sc, PPSPerCore)
	}
	if sc == "fastpath" {
		if v, ok := FastpathVerdict(r); ok {
			b.WriteString(v.Markdown())
		}
	}
}

// writeRatios prints row/column of the primary metric for every pair of
// systems that measured it in this run.
func writeRatios(b *strings.Builder, r *Run, sc, key string) {
	if key == "" {
		return
	}
	var names []string
	vals := map[string]float64{}
	for _, sys := range r.SystemNames() {
		res := r.Lookup(sc, sys)
		if res == nil || res.Status != "ok" {
			continue
		}
		if v, ok := res.Metrics[key]; ok && v > 0 {
			names = append(names, sys)
			vals[sys] = v
		}
	}
	if len(names) < 2 {
		return
	}
	fmt.Fprintf(b, "Ratios of %s (row ÷ column, same run):\n\n|  |", key)
	for _, n := range names {
		fmt.Fprintf(b, " %s |", n)
	}
	b.WriteString("\n|---|")
	for range names {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, row := range names {
		fmt.Fprintf(b, "| %s |", row)
		for _, col := range names {
			if row == col {
				b.WriteString(" 1 |")
				continue
			}
			fmt.Fprintf(b, " %.2f× |", vals[row]/vals[col])
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

func fmtList(vs []float64, key string) string {
	var out []string
	for _, v := range vs {
		if key == PPS || key == RRPPS || key == CPS {
			out = append(out, fmtRate(v))
		} else {
			out = append(out, fmtF3(v))
		}
	}
	return strings.Join(out, ", ")
}
