package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/control"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/datapath/engine"
	"github.com/xgw-dev/xgw/packet"
)

// TestMain lets a test run the real binary's main (for exit codes) by
// re-executing the test binary with XGW_TEST_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("XGW_TEST_MAIN") == "1" {
		os.Exit(execute(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// xgw runs the CLI in a child process and returns its output and status.
func xgw(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "XGW_TEST_MAIN=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func TestCheckConfigExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		out, errOut, code := xgw(t, "check-config", f)
		// A YAML-mode file lists its routers; an OVN-mode one says where
		// its topology comes from.
		summary := strings.Contains(out, "router ") || strings.Contains(out, "topology: read from the OVN databases")
		if code != 0 || !strings.Contains(out, ": OK") || !summary {
			t.Errorf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", f, code, out, errOut)
		}
	}
}

func TestCheckConfigBroken(t *testing.T) {
	seed, err := os.ReadFile("../../examples/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, field string }{
		{"bad address", "external_ip: 123.123.123.123", "external_ip: 123.123.123", "routers[1].nat[0].external_ip"},
		{"zone clash", "snat: 16", "snat: 6", "routers[1].zones.snat"},
		{"unknown key", "ttl: 64", "tll: 64", "tll"},
	} {
		path := filepath.Join(t.TempDir(), "bad.yaml")
		os.WriteFile(path, []byte(strings.Replace(string(seed), tc.old, tc.new, 1)), 0o600)
		out, errOut, code := xgw(t, "check-config", path)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s%s", tc.name, code, out, errOut)
			continue
		}
		for _, want := range []string{"invalid configuration", tc.field, "(line "} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, want, errOut)
			}
		}
	}
	if _, errOut, code := xgw(t, "check-config", "/nonexistent/xgw.yaml"); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d\n%s", code, errOut)
	}
}

// TestHelpEveryCommand runs `xgw ... --help` for every command, nested
// ones included, as a newcomer would: it exits 0 and prints the command's
// own description, usage and an example.
func TestHelpEveryCommand(t *testing.T) {
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
		if len(path) == 0 {
			return
		}
		name := strings.Join(path, " ")
		if c.Long == "" && c.Name() != "version" {
			t.Errorf("xgw %s has no Long help", name)
		}
		out, errOut, code := xgw(t, append(path, "--help")...)
		if code != 0 {
			t.Errorf("xgw %s --help: exit %d\n%s", name, code, errOut)
			return
		}
		for _, want := range []string{"Usage:", "xgw " + name} {
			if !strings.Contains(out, want) {
				t.Errorf("xgw %s --help lacks %q:\n%s", name, want, out)
			}
		}
		if c.Long != "" && !strings.Contains(out, strings.TrimSpace(strings.SplitN(c.Long, "\n", 2)[0])) {
			t.Errorf("xgw %s --help does not print its description:\n%s", name, out)
		}
		if c.Runnable() && c.Example == "" && c.Name() != "version" {
			t.Errorf("xgw %s has no example", name)
		}
	}
	walk(newRoot(), nil)
}

// fakeGateway is a control.Provider with fixed counters.
type fakeGateway struct {
	ct  *conntrack.Table
	ct6 *conntrack.Table6
}

func (f *fakeGateway) Stats() (control.Stats, error) {
	var ds datapath.Stats
	ds.Drops[datapath.DropNoConn] = 42
	ds.Verdicts[datapath.VerdictTX] = 1000
	return control.Stats{
		Version:  "test",
		Pipeline: control.PipelineStats(ds),
		Engine:   engine.Stats{TxCopied: 1000},
		Ports:    []engine.PortStats{{Interface: "gw-ext", Queue: 0}},
	}, nil
}
func (f *fakeGateway) Conntrack() control.Conntrack {
	return conntrack.Tables{V4: f.ct, V6: f.ct6}
}
func (f *fakeGateway) Now() int64 { return 0 }

// DumpFlows implements control.FlowDumper, echoing the type asked for.
func (f *fakeGateway) DumpFlows(w io.Writer, typ string) error {
	_, err := fmt.Fprintf(w, "flows of type %q\n", typ)
	return err
}

// TestControlSocketCommands runs stats, dump-conntrack and dump-flows
// against a control socket served by a fake provider.
func TestControlSocketCommands(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the control socket admits only root")
	}
	ct, err := conntrack.NewTable(conntrack.Config{Capacity: 16})
	if err != nil {
		t.Fatal(err)
	}
	ct6, err := conntrack.NewTable6(conntrack.Config{Capacity: 16})
	if err != nil {
		t.Fatal(err)
	}
	k6 := conntrack.Tuple6{Src: packet.MustIP6("fd00::5"), Dst: packet.MustIP6("2001:db8::1"), SrcPort: 5000, DstPort: 53, Proto: packet.ProtoUDP, Zone: 16}
	if _, err := ct6.Commit(k6, &conntrack.Meta{Len: 80}, 1, nil); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "xgw.sock")
	srv, err := control.Listen(sock, &fakeGateway{ct: ct, ct6: ct6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Close(context.Background())

	out, errOut, code := xgw(t, "stats", "--control-socket", sock)
	if code != 0 || !strings.Contains(out, "no-connection  42") || !strings.Contains(out, "gw-ext") {
		t.Fatalf("stats: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = xgw(t, "stats", "--json", "--control-socket", sock)
	if code != 0 || !strings.Contains(out, `"no-connection": 42`) {
		t.Fatalf("stats --json: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"dump-conntrack", "--zone", "16", "-s"}, {"dump-flows"}} {
		if _, errOut, code := xgw(t, append(args, "--control-socket", sock)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
	}
	want6 := "udp,orig=(src=fd00::5,dst=2001:db8::1,sport=5000,dport=53),reply=(src=2001:db8::1,dst=fd00::5,sport=53,dport=5000),zone=16\n"
	if out, errOut, code := xgw(t, "dump-conntrack", "--zone", "16", "--control-socket", sock); code != 0 || out != want6 {
		t.Fatalf("dump-conntrack --zone 16 (IPv6): exit %d %q, want %q %s", code, out, want6, errOut)
	}
	if out, _, code := xgw(t, "dump-conntrack", "--zone", "6", "--control-socket", sock); code != 0 || out != "" {
		t.Fatalf("dump-conntrack --zone 6: exit %d %q, want nothing", code, out)
	}
	if out, errOut, code := xgw(t, "dump-flows", "--type", "offloaded", "--control-socket", sock); code != 0 || out != "flows of type \"offloaded\"\n" {
		t.Fatalf("dump-flows --type offloaded: exit %d %q %s", code, out, errOut)
	}
	_, errOut, code = xgw(t, "stats", "--control-socket", filepath.Join(t.TempDir(), "nope.sock"))
	if code != 1 || !strings.Contains(errOut, "is `xgw run` running? (no such socket)") {
		t.Fatalf("unreachable socket: exit %d\n%s", code, errOut)
	}
}
