package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bench/report"
)

// TestSmokeXGWSoftware runs the harness for two seconds on one system (xgw,
// offload off) on the seed scenario, in a fresh lab, and checks that
// packets made it through the gateway to the sink.
func TestSmokeXGWSoftware(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root (lab namespaces, XDP, BPF_PROG_RUN)")
	}
	bin := filepath.Join(t.TempDir(), "xgw")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/xgw").CombinedOutput(); err != nil {
		t.Fatalf("build xgw: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var progress strings.Builder
	r, err := Run(ctx, Options{
		Scenarios: []string{"udp-oneway"}, Systems: []string{"xgw-sw"},
		Duration: 2 * time.Second, Flows: 500, Size: 64, GenCPU: -1,
		SystemOptions: SystemOptions{GatewayCPU: -1},
		XGWBin:        bin, Commit: "test", Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Lookup("udp-oneway", "xgw-sw")
	if res == nil || res.Status != "ok" {
		t.Fatalf("result %+v\nprogress:\n%s", res, progress.String())
	}
	if res.Metrics[report.PPS] <= 0 || res.Metrics[report.Sent] <= 0 {
		t.Fatalf("no packets delivered: %v\nprogress:\n%s", res.Metrics, progress.String())
	}
	if res.Metrics[report.TableEntries] <= 0 {
		t.Errorf("no conntrack entries seen: %v", res.Metrics)
	}
	t.Logf("delivered %.0f pps, gateway %.2f cores, softirq %.2f cores",
		res.Metrics[report.PPS], res.Metrics[report.GWCores], res.Metrics[report.SoftIRQCores])
	dir := t.TempDir()
	files, err := WriteOutputs(r, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Errorf("wrote %v", files)
	}
}

func TestParseIperf(t *testing.T) {
	g, l, err := parseIperf([]byte(`{"end":{"sum_received":{"bits_per_second":2e9},"sum":{"bits_per_second":1e9,"lost_percent":10}}}`), true)
	if err != nil || g != 0.9 || l != 0.1 {
		t.Errorf("udp: %v %v %v", g, l, err)
	}
	g, _, err = parseIperf([]byte(`{"end":{"sum_received":{"bits_per_second":2e9}}}`), false)
	if err != nil || g != 2 {
		t.Errorf("tcp: %v %v", g, err)
	}
	if _, _, err := parseIperf([]byte(`{"error":"unable to connect"}`), false); err == nil {
		t.Error("iperf3 error not reported")
	}
}

func TestParseEthtoolS(t *testing.T) {
	m := parseEthtoolS("NIC statistics:\n     peer_ifindex: 7\n     rx_queue_0_xdp_drops: 12\n")
	if m["rx_queue_0_xdp_drops"] != 12 || m["peer_ifindex"] != 7 {
		t.Errorf("%v", m)
	}
	d := ifaceDeltas(map[string]map[string]float64{"a": {"x": 1, "y": 2}}, map[string]map[string]float64{"a": {"x": 1, "y": 5}})
	if len(d["a"]) != 1 || d["a"]["y"] != 3 {
		t.Errorf("%v", d)
	}
}

func TestFastShare(t *testing.T) {
	m := map[string]float64{}
	// Fast-path counters known: 300 fast, 100 software.
	fastShare(m, Sample{Software: 10, Fast: 0}, Sample{Software: 110, Fast: 300}, -1)
	if m[report.FastShare] != 0.75 {
		t.Errorf("with counters: %v", m[report.FastShare])
	}
	// Without: 1 - 100/400 delivered.
	m = map[string]float64{}
	fastShare(m, Sample{Software: 0, Fast: -1}, Sample{Software: 100, Fast: -1}, 400)
	if m[report.FastShare] != 0.75 {
		t.Errorf("without counters: %v", m[report.FastShare])
	}
	m = map[string]float64{}
	fastShare(m, unknownSample(), unknownSample(), 400)
	if _, ok := m[report.FastShare]; ok {
		t.Error("share from unknown counters")
	}
}

func TestMedians(t *testing.T) {
	res := func(v float64, st string) report.Result {
		return report.Result{Scenario: "udp-oneway", System: "x", Status: st, Metrics: map[string]float64{report.PPS: v}}
	}
	k := [2]string{"udp-oneway", "x"}
	out := medians(map[[2]string][]report.Result{k: {res(3, "ok"), res(1, "ok"), res(0, "failed"), res(2, "ok")}}, [][2]string{k})
	if len(out) != 1 || out[0].Metrics[report.PPS] != 2 || out[0].Repeats != 3 || len(out[0].RepeatValues) != 3 || len(out[0].Notes) != 1 {
		t.Errorf("%+v", out)
	}
}
