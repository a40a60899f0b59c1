package ovn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/config"
)

// tlsInnerEnv marks the re-executed test process that runs inside the
// test's network namespace.
const tlsInnerEnv = "XGW_OVN_TLS_INNER"

// TestTLSConnection: xgw reaches an SB ovsdb-server over ssl: with
// certificates made by ovs-pki (server and client signed by its switch
// CA), registers and claims through it; a client certificate of another
// CA (ovs-pki's controller CA), and a CA file that did not sign the
// server's certificate, are refused at connect. The server listens on
// 127.0.0.1 of a network namespace made for the test: the test re-runs
// itself there (root needed).
func TestTLSConnection(t *testing.T) {
	if os.Getenv(tlsInnerEnv) != "" {
		tlsInner(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: TestTLSConnection needs root (a network namespace for the ssl: listener)")
	}
	for _, b := range []string{"ovs-pki", "ip", "ovsdb-server"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("SKIPPED LOUDLY: %s not installed: %v", b, err)
		}
	}
	var rb [4]byte
	rand.Read(rb[:])
	ns := "xgwtls-" + hex.EncodeToString(rb[:])
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run", "^TestTLSConnection$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), tlsInnerEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("inside %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("the TLS test inside %s failed: %v", ns, err)
	}
}

// pki makes a CA pair and certificates with ovs-pki in dir.
func pki(t *testing.T, dir string) {
	t.Helper()
	run := func(args ...string) {
		cmd := exec.Command("ovs-pki", append([]string{"--dir=" + filepath.Join(dir, "pki")}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ovs-pki %v: %v: %s", args, err, out)
		}
	}
	run("init")
	run("req+sign", "sb", "switch")        // the server's, by the switch CA
	run("req+sign", "gw", "switch")        // xgw's, by the switch CA
	run("req+sign", "other", "controller") // another CA's
}

func tlsInner(t *testing.T) {
	e := newOVNEnvWith(t, func(e *ovnEnv) {
		pki(t, e.dir)
		e.dbArgs = map[string][]string{"sb": {"--remote=pssl:16642:127.0.0.1",
			"--private-key=" + filepath.Join(e.dir, "sb-privkey.pem"),
			"--certificate=" + filepath.Join(e.dir, "sb-cert.pem"),
			"--ca-cert=" + filepath.Join(e.dir, "pki", "switchca", "cacert.pem")}}
	})
	e.seed()
	cfg := func(key, cert, ca string) *config.Config {
		c, err := config.Parse([]byte(fmt.Sprintf(`
ovn:
  chassis: gateway01
  sb: ["ssl:127.0.0.1:16642"]
  nb: ["unix:%s"]
  tls: { private_key: %s, certificate: %s, ca_cert: %s }
  encap: { type: geneve, ip: 192.0.2.1, csum: true }
  bridge_mappings: { physnet1: gw-ext }
interfaces:
  underlay: { name: gw-under }
  external: { name: gw-ext }
`, e.nbSock, filepath.Join(e.dir, key), filepath.Join(e.dir, cert), filepath.Join(e.dir, ca))))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	switchCA := filepath.Join("pki", "switchca", "cacert.pem")
	waitFor(t, 10*time.Second, "the ssl: listener", func() (bool, string) {
		out, err := exec.Command("ss", "-ltn").CombinedOutput()
		return err == nil && strings.Contains(string(out), "127.0.0.1:16642"), string(out)
	})

	// Refused: a client certificate of another CA, and a CA file that
	// did not sign the server's certificate.
	sbLog := func() string { b, _ := os.ReadFile(filepath.Join(e.dir, "sb.log")); return string(b) }
	for _, bad := range []struct {
		what, key, cert, ca string
		// why finds the certificate refusal: the server's (with TLS 1.3
		// the client may only see the connection closed) or ours.
		why func(client string) bool
	}{
		{"client certificate of another CA", "other-privkey.pem", "other-cert.pem", switchCA,
			func(string) bool { return strings.Contains(sbLog(), "did not return a certificate") }},
		{"server certificate not signed by our CA", "gw-privkey.pem", "gw-cert.pem", filepath.Join("pki", "controllerca", "cacert.pem"),
			func(client string) bool { return strings.Contains(client, "certificate signed by unknown authority") }},
	} {
		var log bytes.Buffer
		c, err := New(Options{Config: cfg(bad.key, bad.cert, bad.ca), Log: slog.New(slog.NewTextHandler(&log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = c.Start(sctx)
		cancel()
		c.Close(context.Background())
		if err == nil {
			t.Fatalf("%s: connected over ssl:", bad.what)
		}
		// Refused for the certificate, not for want of a server.
		if !bad.why(log.String()) {
			t.Fatalf("%s: failed (%v), but not for a certificate:\nxgw: %s\nsb.log:\n%s", bad.what, err, log.String(), tail(sbLog(), 1500))
		}
		t.Logf("%s: refused: %s", bad.what, strings.TrimSpace(log.String()))
	}
	if got := e.sbctl("--bare", "--columns=name", "find", "Chassis", "name=gateway01"); got != "" {
		t.Fatalf("a refused client registered: %q", got)
	}

	// Accepted: registered, the gateway router served and claimed.
	ctl, first, _ := startController(t, cfg("gw-privkey.pem", "gw-cert.pem", switchCA))
	if findRouter(first, "gr1") == nil {
		t.Fatalf("gr1 not served over ssl: %v", ctl.Status().Problems)
	}
	me := e.sbctl("--bare", "--columns=_uuid", "find", "Chassis", "name=gateway01")
	waitFor(t, 5*time.Second, "gr1-join claimed over ssl:", func() (bool, string) {
		got := e.sbctl("--bare", "--columns=chassis", "find", "Port_Binding", "logical_port=gr1-join")
		return me != "" && got == me, got
	})
}
