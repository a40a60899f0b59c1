package ovn

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRegisterChassis: the Chassis, Encap and Chassis_Private rows are
// those ovn-controller 23.03 writes, with its four feature flags (without
// them northd would downgrade every chassis's flows).
func TestRegisterChassis(t *testing.T) {
	e := newOVNEnv(t)
	e.sync()
	startController(t, e.gwConfig(t, "gateway01"))

	got := e.sbctl("--bare", "--columns=name,hostname", "find", "Chassis", "name=gateway01")
	if !strings.Contains(got, "gateway01") || !strings.Contains(got, "gateway01-host") {
		t.Fatalf("Chassis row: %q", got)
	}
	for _, f := range features {
		if v := e.sbctl("get", "Chassis", "gateway01", "other_config:"+f); v != `"true"` {
			t.Errorf("other_config:%s = %s, want \"true\"", f, v)
		}
	}
	if v := e.sbctl("get", "Chassis", "gateway01", "other_config:ovn-bridge-mappings"); v != `"physnet1:gw-ext"` {
		t.Errorf("ovn-bridge-mappings = %s", v)
	}
	enc := e.sbctl("--bare", "--columns=type,ip,options,chassis_name", "find", "Encap", "chassis_name=gateway01")
	for _, w := range []string{"geneve", "192.0.2.1", "csum=true", "gateway01"} {
		if !strings.Contains(enc, w) {
			t.Errorf("Encap row %q lacks %q", enc, w)
		}
	}
	// Chassis_Private names the chassis and reports nb_cfg once applied.
	e.nbctl("--wait=sb", "sync") // bumps nb_cfg
	want := e.sbctl("get", "SB_Global", ".", "nb_cfg")
	waitFor(t, 5*time.Second, "Chassis_Private.nb_cfg = SB_Global.nb_cfg", func() (bool, string) {
		got := e.sbctl("--bare", "--columns=nb_cfg", "find", "Chassis_Private", "name=gateway01")
		return got == want, got + " vs " + want
	})
	if ch := e.sbctl("--bare", "--columns=chassis", "find", "Chassis_Private", "name=gateway01"); ch != e.sbctl("--bare", "--columns=_uuid", "find", "Chassis", "name=gateway01") {
		t.Errorf("Chassis_Private.chassis = %q", ch)
	}
}

// TestRegisterRepairsRows: a Chassis row deleted behind xgw's back (as
// `ovn-sbctl chassis-del` does) is registered again, as ovn-controller
// does on its next run.
func TestRegisterRepairsRows(t *testing.T) {
	e := newOVNEnv(t)
	e.sync()
	startController(t, e.gwConfig(t, "gateway01"))
	e.sbctl("chassis-del", "gateway01")
	waitFor(t, 5*time.Second, "Chassis re-registered", func() (bool, string) {
		got := e.sbctl("--bare", "--columns=name", "find", "Chassis", "name=gateway01")
		return got == "gateway01", got
	})
}

// TestLflowsUnchangedByRegistration: northd's logical flows are the same
// with and without xgw registered, given a hypervisor chassis that
// advertises what ovn-controller 23.03 does. A gateway chassis lacking a
// feature flag would make northd fall back for everyone (for example
// ct-no-masked-label changes the ct_label/ct_mark flows).
func TestLflowsUnchangedByRegistration(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	for _, f := range features {
		e.sbctl("set", "Chassis", "hv1", "other_config:"+f+"=true")
	}
	e.sync()
	before := e.sbctl("lflow-list")
	startController(t, e.gwConfig(t, "gateway01"))
	waitFor(t, 5*time.Second, "gateway01 registered", func() (bool, string) {
		got := e.sbctl("--bare", "--columns=name", "find", "Chassis", "name=gateway01")
		return got == "gateway01", got
	})
	e.sync()
	if after := e.sbctl("lflow-list"); after != before {
		t.Fatalf("logical flows changed when xgw registered:\n%s", diffLines(before, after))
	}
}

// diffLines lists the lines only in a and only in b.
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 40 {
		out = append(out[:40], "...")
	}
	return strings.Join(out, "\n")
}

// TestShutdownKeepsOrCleansUp: by default a stop keeps the Chassis rows
// and the claims (ovn-controller's `exit --restart` / SIGTERM); with
// ovn.cleanup_on_exit it releases the ports and deletes the Chassis and
// Chassis_Private rows (ovn-controller's `ovn-appctl exit`).
func TestShutdownKeepsOrCleansUp(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	claimed := func() string {
		return e.sbctl("--bare", "--columns=logical_port", "find", "Port_Binding", "type=l3gateway", "chassis!=[]")
	}
	for _, cleanup := range []bool{false, true} {
		cfg := e.gwConfig(t, "gateway01")
		cfg.OVN.CleanupOnExit = cleanup
		c, err := New(Options{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "claims", func() (bool, string) { got := claimed(); return len(strings.Fields(got)) == 4, got })
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		ch := e.sbctl("--bare", "--columns=name", "find", "Chassis", "name=gateway01")
		pr := e.sbctl("--bare", "--columns=name", "find", "Chassis_Private", "name=gateway01")
		if cleanup {
			if ch != "" || pr != "" || claimed() != "" {
				t.Errorf("cleanup_on_exit: chassis %q private %q claims %q remain", ch, pr, claimed())
			}
			if enc := e.sbctl("--bare", "--columns=ip", "find", "Encap", "chassis_name=gateway01"); enc != "" {
				t.Errorf("cleanup_on_exit: the Encap row remains: %q", enc)
			}
		} else if ch != "gateway01" || pr != "gateway01" || len(strings.Fields(claimed())) != 4 {
			t.Errorf("default stop: chassis %q private %q claims %q, want all kept", ch, pr, claimed())
		}
	}
}

// TestSchemaChecks: the version rule, and a client pointed at the wrong
// database (the SB remote names the NB server) fails at once, clearly,
// instead of retrying forever.
func TestSchemaChecks(t *testing.T) {
	for v, ok := range map[string]bool{"20.27.0": true, "20.33.1": true, "20.26.0": false, "21.0.0": false, "7.0.0": false, "x": false} {
		if err := sbSchema.check(v); (err == nil) != ok {
			t.Errorf("SB %s: err %v, want ok=%v", v, err, ok)
		}
	}
	e := newOVNEnv(t)
	cfg := e.gwConfig(t, "gateway01")
	cfg.OVN.SB = []string{"unix:" + e.nbSock}
	c, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "OVN_Southbound") || ctx.Err() != nil {
		t.Fatalf("got %v (ctx %v), want an immediate error naming OVN_Southbound", err, ctx.Err())
	}
	t.Log(err)
}

// TestStartWaitsForDatabase: a gateway started while the SB server is
// down waits for it (retrying with backoff) and registers once it is up.
func TestStartWaitsForDatabase(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	e.stopDB("sb")
	c, err := New(Options{Config: e.gwConfig(t, "gateway01")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		served int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		cfg, err := c.Start(ctx)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{served: len(cfg.Routers)}
	}()
	select {
	case r := <-done:
		t.Fatalf("Start returned while SB was down: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	e.startDB("sb")
	select {
	case r := <-done:
		if r.err != nil || r.served == 0 {
			t.Fatalf("after SB came up: %+v", r)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Start did not return within 15 s of SB coming up")
	}
	if got := e.sbctl("--bare", "--columns=name", "find", "Chassis", "name=gateway01"); got != "gateway01" {
		t.Fatalf("not registered: %q", got)
	}
}
