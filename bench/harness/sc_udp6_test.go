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

// TestSmokeOneway6 runs udp-oneway6 in a dual-stack lab on every system it
// compares (xgw software, xgw offload, OVS AF_XDP) at a modest rate and
// fails if any of them delivers nothing or little: most datagrams arrive
// at the sink from the NAT66 address, none from another address, the ones
// sampled to ext's stack reach a socket from the NAT66 address with no UDP
// checksum error, and the gateway held the flows (where it counts its
// IPv6 connections: OVS). The Linux peer is
// skipped with its reason.
func TestSmokeOneway6(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root (lab namespaces, OVS, XDP, AF_XDP)")
	}
	bin := filepath.Join(t.TempDir(), "xgw")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/xgw").CombinedOutput(); err != nil {
		t.Fatalf("build xgw: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	systems := []string{"xgw-sw", "xgw-offload", "ovs-afxdp"}
	var progress strings.Builder
	r, err := Run(ctx, Options{
		Scenarios: []string{ScenarioOneway6}, Systems: append(systems, "linux"),
		Duration: 2 * time.Second, Flows: 500, Size: 64, Rate: 20000, GenCPU: -1,
		SystemOptions: SystemOptions{GatewayCPU: -1},
		XGWBin:        bin, Commit: "test", Progress: &progress,
	})
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	for _, sys := range systems {
		res := r.Lookup(ScenarioOneway6, sys)
		if res == nil || res.Status != "ok" {
			t.Errorf("%s: result %+v", sys, res)
			continue
		}
		m := res.Metrics
		raw := func(k string) uint64 { v, _ := res.Raw[k].(uint64); return v }
		t.Logf("%s: sent %.0f, delivered from the NAT66 address %.0f (%.0f pps), from elsewhere %d, sampled %d, socket %d (from NAT66 %d), checksum errors %d, table %.0f",
			sys, m[report.Sent], m[report.Delivered], m[report.PPS], raw("not_from_snat"), raw("sampled_to_stack"),
			raw("socket_received"), raw("socket_from_snat"), raw("udp6_csum_errors"), m[report.TableEntries])
		// The bar is "the path works", not a rate: the gateway shares
		// two cores with the generator, the sink and other tests.
		if m[report.Sent] <= 0 || m[report.Delivered] < 0.5*m[report.Sent] {
			t.Errorf("%s delivered %.0f of %.0f IPv6 datagrams from the NAT66 address", sys, m[report.Delivered], m[report.Sent])
		}
		if n := raw("not_from_snat"); n > 0 {
			t.Errorf("%s: %d datagrams reached ext from another address than the NAT66 one", sys, n)
		}
		if raw("sampled_to_stack") == 0 || raw("socket_from_snat") == 0 || raw("socket_from_snat") != raw("socket_received") {
			t.Errorf("%s: sampled %d to ext's stack, a socket received %d, %d of them from the NAT66 address",
				sys, raw("sampled_to_stack"), raw("socket_received"), raw("socket_from_snat"))
		}
		if n := raw("udp6_csum_errors"); n > 0 {
			t.Errorf("%s: %d UDP checksum errors in ext: NAT66 broke the checksum", sys, n)
		}
		if v, ok := m[report.TableEntries]; ok && v < 500 {
			t.Errorf("%s held %.0f connections, want >= the 500 flows", sys, m[report.TableEntries])
		}
	}
	if l := r.Lookup(ScenarioOneway6, "linux"); l == nil || l.Status != "skipped" {
		t.Errorf("linux on udp-oneway6: %+v, want skipped", l)
	}
	if t.Failed() {
		t.Logf("progress:\n%s", progress.String())
	}
}

// TestXDPPassed reads the Pass delta of one interface out of the
// gateway's stats samples as `xgw stats --json` shapes them.
func TestXDPPassed(t *testing.T) {
	sample := func(u, x float64) map[string]any {
		return map[string]any{"xdp": []any{
			map[string]any{"interface": "gw-u", "stats": map[string]any{"Pass": map[string]any{"Packets": u}}},
			map[string]any{"interface": "gw-x", "stats": map[string]any{"Pass": map[string]any{"Packets": x}}},
		}}
	}
	raw := map[string]any{"gateway_before": sample(10, 1), "gateway_after": sample(40010, 5)}
	if n, ok := xdpPassed(raw, "gw-u"); !ok || n != 40000 {
		t.Errorf("gw-u: %v %v, want 40000", n, ok)
	}
	if _, ok := xdpPassed(map[string]any{"gateway_after": sample(1, 1)}, "gw-u"); ok {
		t.Error("a missing sample read as a delta")
	}
}

// TestCheckUnderlay6: udp-oneway6o6 beside other scenarios is refused when
// an xgw system runs (its lab hides the chassis' IPv4 encap IP from xgw),
// allowed alone or with OVS only.
func TestCheckUnderlay6(t *testing.T) {
	for _, tc := range []struct {
		scs, systems []string
		ok           bool
	}{
		{[]string{ScenarioOneway6o6}, []string{"xgw-sw", "ovs-afxdp"}, true},
		{[]string{ScenarioOneway6, ScenarioOneway6o6}, []string{"ovs-afxdp"}, true},
		{[]string{ScenarioOneway6, ScenarioOneway6o6}, []string{"xgw-sw", "ovs-afxdp"}, false},
		{[]string{"udp-oneway", ScenarioOneway6}, []string{"xgw-offload"}, true},
	} {
		err := checkUnderlay6(&Options{Scenarios: tc.scs, Systems: tc.systems})
		if (err == nil) != tc.ok {
			t.Errorf("%v on %v: %v", tc.scs, tc.systems, err)
		}
	}
}
