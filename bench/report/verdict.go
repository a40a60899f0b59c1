package report

import (
	"fmt"
	"strings"
)

// The offload issue's criterion for the fastpath scenario: xgw's fast path
// reaches at least half the plain XDP redirect ceiling of the same veths,
// and at least 3x xgw's software path, in the same run.
const (
	FastpathVsCeilingMin  = 0.5
	FastpathVsSoftwareMin = 3.0
)

// Verdict is the fastpath scenario's criterion, evaluated on one run.
type Verdict struct {
	Offload, Ceiling, Software float64 // delivered pps
	VsCeiling, VsSoftware      float64
	CeilingPass, SoftwarePass  bool
	FastShare                  float64 // xgw-offload's fast-path share, -1 unknown
	// OffloadUnsaturated: xgw-offload delivered (nearly) all it was sent,
	// so the load, not the fast path, set its figure. A software check
	// that falls short is then inconclusive, not a failure: it measured
	// the generator.
	OffloadUnsaturated bool
}

// unsaturatedLoss is the loss under which a system kept up with its load.
const unsaturatedLoss = 0.01

// FastpathVerdict evaluates the criterion when xgw-offload, xdp-ceiling and
// xgw-sw all ran the fastpath scenario.
func FastpathVerdict(r *Run) (Verdict, bool) {
	get := func(sys string) (float64, bool) {
		res := r.Lookup("fastpath", sys)
		if res == nil || res.Status != "ok" || res.Metrics[PPS] <= 0 {
			return 0, false
		}
		return res.Metrics[PPS], true
	}
	o, ok1 := get("xgw-offload")
	c, ok2 := get("xdp-ceiling")
	s, ok3 := get("xgw-sw")
	if !ok1 || !ok2 || !ok3 {
		return Verdict{}, false
	}
	v := Verdict{Offload: o, Ceiling: c, Software: s, VsCeiling: o / c, VsSoftware: o / s, FastShare: -1}
	v.CeilingPass = v.VsCeiling >= FastpathVsCeilingMin
	v.SoftwarePass = v.VsSoftware >= FastpathVsSoftwareMin
	off := r.Lookup("fastpath", "xgw-offload")
	if sh, ok := off.Metrics[FastShare]; ok {
		v.FastShare = sh
	}
	if l, ok := off.Metrics[Loss]; ok && l < unsaturatedLoss {
		v.OffloadUnsaturated = true
	}
	return v, true
}

func passFail(ok bool) string {
	if ok {
		return "**PASS**"
	}
	return "**FAIL**"
}

// Markdown renders the verdict.
func (v Verdict) Markdown() string {
	var b strings.Builder
	b.WriteString("Criterion (offload issue): the fast path reaches at least half the XDP redirect ceiling of the same veths and at least 3x xgw's software path, same run:\n\n")
	b.WriteString("| check | xgw-offload | against | ratio | needed | result |\n|---|---:|---:|---:|---:|---|\n")
	fmt.Fprintf(&b, "| fast path ÷ xdp-ceiling | %s | %s | %.2f× | ≥ %.1f× | %s |\n", fmtRate(v.Offload), fmtRate(v.Ceiling), v.VsCeiling, FastpathVsCeilingMin, passFail(v.CeilingPass))
	inconclusive := !v.SoftwarePass && v.OffloadUnsaturated
	sw := passFail(v.SoftwarePass)
	if inconclusive {
		sw = "**INCONCLUSIVE**"
	}
	fmt.Fprintf(&b, "| fast path ÷ xgw-sw | %s | %s | %.2f× | ≥ %.1f× | %s |\n", fmtRate(v.Offload), fmtRate(v.Software), v.VsSoftware, FastpathVsSoftwareMin, sw)
	if inconclusive {
		fmt.Fprintf(&b, "\nINCONCLUSIVE: xgw-offload lost under %.0f %% of what it was sent, so the generator, not the fast path, set its figure; the software check needs more load than this generator offers (compare the gateways' CPU for the same load instead).\n", 100*unsaturatedLoss)
	}
	if v.FastShare >= 0 {
		fmt.Fprintf(&b, "\nxgw-offload's fast-path share during the measurement: %s.\n", fmtPct(v.FastShare))
	}
	b.WriteString("\n")
	return b.String()
}
