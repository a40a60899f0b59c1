package ovn

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/config"
)

// TestScaleDatabases is the scale case against real databases:
// 1,000 gateway routers bound to xgw, 20,000 VIFs over 50 chassis, made
// with ovn-nbctl/ovn-sbctl batches and processed by ovn-northd. It
// measures xgw's initial sync, its heap, and lr-nat-add -> applied. Heavy
// (minutes of northd on a small machine): run it by hand with
//
//	XGW_OVN_SCALE=1 flock /tmp/xgw-heavy.lock go test ./ovn/ -run ScaleDatabases -v -timeout 30m
//
// XGW_OVN_SCALE=routers,vifs,chassis picks another size.
func TestScaleDatabases(t *testing.T) {
	spec := os.Getenv("XGW_OVN_SCALE")
	if spec == "" {
		t.Skip("heavy; set XGW_OVN_SCALE=1 to run (see the doc comment)")
	}
	routers, vifs, chassisN := 1000, 20000, 50
	if spec != "1" {
		if _, err := fmt.Sscanf(spec, "%d,%d,%d", &routers, &vifs, &chassisN); err != nil {
			t.Fatalf("XGW_OVN_SCALE=%q: want 1 or routers,vifs,chassis", spec)
		}
	}
	e := newOVNEnv(t)
	e.ctlTimeout = 900
	start := time.Now()
	var sb []string
	for c := 0; c < chassisN; c++ {
		sb = append(sb, "--", "chassis-add", fmt.Sprintf("hv%d", c), "geneve", fmt.Sprintf("192.0.%d.%d", 2+c/250, 2+c%250))
	}
	e.sbctl(sb[1:]...)
	sb = sb[:0]
	for c := 0; c < chassisN; c++ {
		for _, f := range features {
			sb = append(sb, "--", "set", "Chassis", fmt.Sprintf("hv%d", c), "other_config:"+f+"=true")
		}
	}
	e.sbctl(sb[1:]...)
	e.nbctl("ls-add", "ext", "--", "lsp-add", "ext", "ext-localnet", "--", "lsp-set-type", "ext-localnet", "localnet",
		"--", "lsp-set-addresses", "ext-localnet", "unknown", "--", "lsp-set-options", "ext-localnet", "network_name=physnet1")
	per := vifs / routers
	const batch = 50
	for b := 0; b < routers; b += batch {
		var cmd []string
		add := func(args ...string) { cmd = append(append(cmd, "--"), args...) }
		for i := b; i < min(b+batch, routers); i++ {
			hi, lo := i/250, i%250
			join, sw, dr, gr := fmt.Sprintf("join%d", i), fmt.Sprintf("sw%d", i), fmt.Sprintf("dr%d", i), fmt.Sprintf("gr%d", i)
			add("ls-add", join)
			add("ls-add", sw)
			add("lr-add", dr)
			add("lr-add", gr)
			add("set", "logical_router", gr, "options:chassis=gateway01")
			lrp := func(r, name, mac, nw, ls string) {
				add("lrp-add", r, name, mac, nw)
				add("lsp-add", ls, ls+"-"+name)
				add("lsp-set-type", ls+"-"+name, "router")
				add("lsp-set-addresses", ls+"-"+name, "router")
				add("lsp-set-options", ls+"-"+name, "router-port="+name)
			}
			lrp(dr, dr+"-join", fmt.Sprintf("0a:00:00:00:%02x:%02x", hi, lo), "172.16.255.2/24", join)
			lrp(dr, dr+"-sw", fmt.Sprintf("0a:00:00:01:%02x:%02x", hi, lo), "10.199.100.1/24", sw)
			lrp(gr, gr+"-join", fmt.Sprintf("0a:00:00:02:%02x:%02x", hi, lo), "172.16.255.3/24", join)
			lrp(gr, gr+"-ext", fmt.Sprintf("0a:00:00:03:%02x:%02x", hi, lo), fmt.Sprintf("100.%d.%d.1/30", 64+hi, lo), "ext")
			add("lr-route-add", gr, "10.199.100.0/24", "172.16.255.2")
			add("lr-route-add", gr, "0.0.0.0/0", fmt.Sprintf("100.%d.%d.2", 64+hi, lo))
			add("lr-route-add", dr, "0.0.0.0/0", "172.16.255.3")
			add("lr-nat-add", gr, "snat", fmt.Sprintf("203.%d.%d.10", hi, lo), "10.199.100.0/24")
			for j := 0; j < per; j++ {
				vm := fmt.Sprintf("vm%d-%d", i, j)
				add("lsp-add", sw, vm)
				add("lsp-set-addresses", vm, fmt.Sprintf("02:00:%02x:%02x:%02x:%02x 10.199.100.%d", hi, lo, j/250, j%250, 10+j))
			}
		}
		e.nbctl(cmd[1:]...)
	}
	t.Logf("NB populated in %v", time.Since(start))
	start = time.Now()
	e.sync()
	t.Logf("northd synced SB in %v", time.Since(start))
	start = time.Now()
	for b := 0; b < routers; b += batch {
		var cmd []string
		for i := b; i < min(b+batch, routers); i++ {
			for j := 0; j < per; j++ {
				cmd = append(cmd, "--", "lsp-bind", fmt.Sprintf("vm%d-%d", i, j), fmt.Sprintf("hv%d", (i*per+j)%chassisN))
			}
		}
		e.sbctl(cmd[1:]...)
	}
	t.Logf("VIFs bound in %v", time.Since(start))

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start = time.Now()
	ctl, first, applied := startController(t, e.gwConfig(t, "gateway01"))
	initial := time.Since(start)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := ctl.Status()
	nvm := 0
	for _, s := range first.Switches {
		for _, p := range s.Ports {
			if !p.IsRouter() {
				nvm++
			}
		}
	}
	t.Logf("initial sync (connect, register, read, translate, claim): %v; routers served %d, VIFs %d, chassis %d, problems %d; heap in use +%d MiB",
		initial, len(st.Served), nvm, len(first.Chassis), len(st.Problems), (int64(after.HeapInuse)-int64(before.HeapInuse))>>20)
	if len(st.Served) != routers || nvm != vifs {
		t.Fatalf("served %d routers and %d VIFs, want %d and %d; problems %v", len(st.Served), nvm, routers, vifs, st.Problems[:min(3, len(st.Problems))])
	}
	var lat []time.Duration
	target := fmt.Sprintf("gr%d", routers/2)
	for k := 0; k < 5; k++ {
		ext := fmt.Sprintf("203.1.244.%d", 20+k)
		start = time.Now()
		e.nbctl("lr-nat-add", target, "dnat_and_snat", ext, fmt.Sprintf("10.199.100.%d", 10+k))
		waitApplied(t, applied, 10*time.Second, "the new rule", func(c *config.Config) bool { return hasNAT(c, target, ext) })
		lat = append(lat, time.Since(start))
	}
	t.Logf("lr-nat-add -> applied: %v", lat)
}
