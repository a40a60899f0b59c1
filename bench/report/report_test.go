package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleRun() *Run {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &Run{Started: t0, Finished: t0.Add(90 * time.Second), Commit: "abc1234",
		Host:   Host{Kernel: "6.18", CPUs: 2, Go: "go1.26", Lab: true},
		Params: Params{Duration: 5, Flows: 5000, Size: 64},
		Notes:  []string{"veth copy mode"}}
	add := func(sys string, pps, gw float64) {
		r.Results = append(r.Results, Result{Scenario: "udp-oneway", System: sys, Status: "ok",
			Metrics: map[string]float64{PPS: pps, GWCores: gw, SoftIRQCores: 0.5, GenCores: 1, Loss: 0.25}})
	}
	add("xgw-sw", 1e6, 1)
	add("linux", 5e5, 0)
	r.Results = append(r.Results, Result{Scenario: "udp-oneway", System: "ovs-afxdp", Status: "failed", Error: "boom | bang"})
	r.Results = append(r.Results, Result{Scenario: "tcp-cc", System: "xgw-sw", Status: "ok",
		Metrics: map[string]float64{CCHeld: 100, CCVerified: 99}})
	return r
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, sampleRun()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"commit abc1234",
		"| xgw-sw | 1.00 M |",
		"| linux | 500.0 k |",
		"25.0 %",
		"| ovs-afxdp | – |",
		"failed: boom / bang", // pipes would break the table
		"| xgw-sw | 1 | 2.00× |",
		"| linux | 0.50× | 1 |",
		"## tcp-cc",
		"- veth copy mode",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// One system only: no ratio matrix.
	if strings.Contains(md[strings.Index(md, "## tcp-cc"):], "Ratios") {
		t.Error("ratio matrix with a single system")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.json")
	r := sampleRun()
	if err := r.WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	if back.Lookup("udp-oneway", "linux").Metrics[PPS] != 5e5 || back.Commit != "abc1234" {
		t.Errorf("round trip: %+v", back)
	}
}

func TestPlots(t *testing.T) {
	dir := t.TempDir()
	r := sampleRun()
	for name, f := range map[string]func(string) error{
		"rates.png": func(p string) error { return PlotRates(r, p) },
		"cpu.png":   func(p string) error { return PlotCPU(r, "udp-oneway", p) },
	} {
		p := filepath.Join(dir, name)
		if err := f(p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG (%v)", name, err)
		}
	}
}

func TestPercentile(t *testing.T) {
	h := make([]uint64, 10)
	h[1] = 50 // 10..20 µs
	h[4] = 49
	h[9] = 1
	for _, c := range []struct{ p, want float64 }{{50, 20}, {51, 50}, {99, 50}, {100, 100}} {
		got, ok := Percentile(h, 10, c.p)
		if !ok || got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if _, ok := Percentile(make([]uint64, 3), 10, 50); ok {
		t.Error("empty histogram gave a percentile")
	}
}

func TestFastpathVerdict(t *testing.T) {
	r := &Run{Results: []Result{
		{Scenario: "fastpath", System: "xgw-sw", Status: "ok", Metrics: map[string]float64{PPS: 400e3}},
		{Scenario: "fastpath", System: "xgw-offload", Status: "ok", Metrics: map[string]float64{PPS: 1.6e6, FastShare: 1}},
		{Scenario: "fastpath", System: "xdp-ceiling", Status: "ok", Metrics: map[string]float64{PPS: 2e6}},
	}}
	v, ok := FastpathVerdict(r)
	if !ok || !v.CeilingPass || !v.SoftwarePass || v.VsCeiling != 0.8 || v.VsSoftware != 4 {
		t.Fatalf("%+v %v", v, ok)
	}
	r.Results[0].Metrics[PPS] = 600e3 // 2.67x software: fails
	if v, _ := FastpathVerdict(r); v.SoftwarePass || !strings.Contains(v.Markdown(), "**FAIL**") {
		t.Errorf("%+v", v)
	}
	// The fast path delivered all it was sent: the load set its figure.
	r.Results[1].Metrics[Loss] = 0.001
	if v, _ := FastpathVerdict(r); v.SoftwarePass || !v.OffloadUnsaturated || !strings.Contains(v.Markdown(), "**INCONCLUSIVE**") {
		t.Errorf("%+v\n%s", v, v.Markdown())
	}
	r.Results[0].Metrics[PPS] = 400e3 // 4x software with the same load: a pass is a pass
	if v, _ := FastpathVerdict(r); !v.SoftwarePass || strings.Contains(v.Markdown(), "INCONCLUSIVE") {
		t.Errorf("%+v", v)
	}
	r.Results = r.Results[1:]
	if _, ok := FastpathVerdict(r); ok {
		t.Error("verdict without xgw-sw")
	}
}
