package harness

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/bench/report"
)

// TestSmokeOneway6: the opt-in udp-oneway6 scenario brings the lab up dual
// stack and runs on OVS (the peer that speaks IPv6 today): every delivered
// datagram came from the NAT66 address, most arrived at a modest rate, and
// OVS's conntrack held the flows. A system outside the comparison is
// skipped with its reason. (xgw's rows are not judged until the pipeline
// speaks IPv6: today it drops the inner IPv6 as not-ipv4.)
func TestSmokeOneway6(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root (lab namespaces, OVS, AF_PACKET)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress strings.Builder
	r, err := Run(ctx, Options{
		Scenarios: []string{ScenarioOneway6}, Systems: []string{"ovs-afxdp", "linux"},
		Duration: 2 * time.Second, Flows: 500, Rate: 10000, GenCPU: -1,
		SystemOptions: SystemOptions{GatewayCPU: -1},
		XGWBin:        "/nonexistent", Commit: "test", Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Lookup(ScenarioOneway6, "ovs-afxdp")
	if res == nil || res.Status != "ok" {
		t.Fatalf("result %+v\nprogress:\n%s", res, progress.String())
	}
	m := res.Metrics
	fromSNAT, _ := res.Raw["from_snat"].(uint64)
	t.Logf("ovs-afxdp: sent %.0f delivered %.0f (%.0f pps), from the NAT66 address %d, table %.0f",
		m[report.Sent], m[report.Delivered], m[report.PPS], fromSNAT, m[report.TableEntries])
	// The bar is "the path works", not a rate: OVS's userspace datapath
	// shares two cores with everything else here.
	if m[report.Sent] <= 0 || m[report.Delivered] < 0.5*m[report.Sent] {
		t.Fatalf("OVS delivered %.0f of %.0f IPv6 datagrams\nprogress:\n%s", m[report.Delivered], m[report.Sent], progress.String())
	}
	if float64(fromSNAT) != m[report.Delivered] {
		t.Fatalf("%d of %.0f delivered datagrams came from the NAT66 address", fromSNAT, m[report.Delivered])
	}
	if m[report.TableEntries] < 500 {
		t.Errorf("OVS conntrack held %.0f entries, want >= the 500 flows", m[report.TableEntries])
	}
	if l := r.Lookup(ScenarioOneway6, "linux"); l == nil || l.Status != "skipped" {
		t.Errorf("linux on udp-oneway6: %+v, want skipped", l)
	}
}
