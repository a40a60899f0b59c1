package ovn

import (
	"bytes"
	"context"
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

// ovnEnv is a private OVN control plane for one test: NB and SB
// ovsdb-servers on unix sockets in a temporary directory and ovn-northd
// between them. No namespaces, no root needed.
type ovnEnv struct {
	t      *testing.T
	dir    string
	nbSock string
	sbSock string
	procs  map[string]*exec.Cmd
	// ctlTimeout bounds each ovn-nbctl/ovn-sbctl run (seconds).
	ctlTimeout int
	// dbArgs are extra ovsdb-server arguments per database (TLS remotes).
	dbArgs map[string][]string
	// nbRemote, sbRemote replace the unix: socket remotes of nbctl and
	// sbctl when set (a raft cluster's comma-separated members).
	nbRemote, sbRemote string
}

func newOVNEnv(t *testing.T) *ovnEnv { t.Helper(); return newOVNEnvWith(t, nil) }

// newOVNEnvWith is newOVNEnv with prep run on the env before the servers
// start (its directory exists then): extra server arguments, files.
func newOVNEnvWith(t *testing.T, prep func(*ovnEnv)) *ovnEnv {
	t.Helper()
	for _, b := range []string{"ovsdb-server", "ovsdb-tool", "ovn-northd", "ovn-nbctl", "ovn-sbctl"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("SKIPPED LOUDLY: %s not installed (make deps installs ovn-central): %v", b, err)
		}
	}
	// Unix socket paths are limited to 108 bytes: a short directory.
	dir, err := os.MkdirTemp("", "xgwovn")
	if err != nil {
		t.Fatal(err)
	}
	e := &ovnEnv{t: t, dir: dir, nbSock: filepath.Join(dir, "nb.sock"), sbSock: filepath.Join(dir, "sb.sock"), procs: map[string]*exec.Cmd{}, ctlTimeout: 10}
	t.Cleanup(func() {
		for _, p := range e.procs {
			_ = p.Process.Kill()
			_, _ = p.Process.Wait()
		}
		if t.Failed() {
			for _, f := range []string{"northd.log", "sb.log", "nb.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("--- %s (tail)\n%s", f, tail(string(b), 2000))
			}
		}
		os.RemoveAll(dir)
	})
	if prep != nil {
		prep(e)
	}
	for _, db := range []struct{ name, schema string }{{"nb", "/usr/share/ovn/ovn-nb.ovsschema"}, {"sb", "/usr/share/ovn/ovn-sb.ovsschema"}} {
		e.run("ovsdb-tool", "create", filepath.Join(dir, db.name+".db"), db.schema)
		e.startDB(db.name)
	}
	e.start("northd", "ovn-northd", "--ovnnb-db=unix:"+e.nbSock, "--ovnsb-db=unix:"+e.sbSock,
		"--unixctl="+filepath.Join(dir, "northd.ctl"), "--log-file="+filepath.Join(dir, "northd.log"), "-vfile:info")
	return e
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// startDB starts (or restarts) one ovsdb-server on its socket and waits
// until it answers.
func (e *ovnEnv) startDB(name string) {
	e.t.Helper()
	sock := filepath.Join(e.dir, name+".sock")
	_ = os.Remove(sock)
	args := append([]string{"ovsdb-server", "--remote=punix:" + sock, "--unixctl=" + filepath.Join(e.dir, name+".ctl"),
		"--log-file=" + filepath.Join(e.dir, name+".log")}, e.dbArgs[name]...)
	e.start(name, append(args, filepath.Join(e.dir, name+".db"))...)
	waitFor(e.t, 10*time.Second, "ovsdb-server "+name+" socket", func() (bool, string) {
		_, err := os.Stat(sock)
		return err == nil, fmt.Sprint(err)
	})
}

// stopDB kills one ovsdb-server (as a crash would).
func (e *ovnEnv) stopDB(name string) {
	p := e.procs[name]
	_ = p.Process.Kill()
	_, _ = p.Process.Wait()
	delete(e.procs, name)
}

func (e *ovnEnv) start(name string, argv ...string) {
	e.t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+e.dir, "OVN_RUNDIR="+e.dir, "OVS_DBDIR="+e.dir)
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start %s: %v", name, err)
	}
	e.procs[name] = cmd
}

// run runs a command and returns its output; failure fails the test.
func (e *ovnEnv) run(argv ...string) string {
	e.t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+e.dir, "OVN_RUNDIR="+e.dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// nbctl runs ovn-nbctl against the private NB database.
func (e *ovnEnv) nbctl(args ...string) string {
	db := "unix:" + e.nbSock
	if e.nbRemote != "" {
		db = e.nbRemote
	}
	return e.run(append([]string{"ovn-nbctl", "--db=" + db, fmt.Sprintf("--timeout=%d", e.ctlTimeout)}, args...)...)
}

// sbctl runs ovn-sbctl against the private SB database.
func (e *ovnEnv) sbctl(args ...string) string {
	db := "unix:" + e.sbSock
	if e.sbRemote != "" {
		db = e.sbRemote
	}
	return e.run(append([]string{"ovn-sbctl", "--db=" + db, fmt.Sprintf("--timeout=%d", e.ctlTimeout)}, args...)...)
}

// sync waits until northd has applied everything to the SB database.
func (e *ovnEnv) sync() { e.nbctl("--wait=sb", "sync") }

// waitFor polls cond until it holds or d passes; on timeout the test
// fails with what cond saw last.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last seen: %s", d, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gwConfig is an OVN-mode file for chassis name against e.
func (e *ovnEnv) gwConfig(t *testing.T, name string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(fmt.Sprintf(`
ovn:
  chassis: %s
  hostname: %s-host
  sb: ["unix:%s"]
  nb: ["unix:%s"]
  encap: { type: geneve, ip: 192.0.2.1, csum: true }
  bridge_mappings: { physnet1: gw-ext }
interfaces:
  underlay: { name: gw-under }
  external: { name: gw-ext }
`, name, name, e.sbSock, e.nbSock)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startController starts a controller for cfg and runs it until the test
// ends; applied receives every topology it applies.
func startController(t *testing.T, cfg *config.Config) (*Controller, *config.Config, chan *config.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c, err := New(Options{Config: cfg, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	defer scancel()
	first, err := c.Start(sctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	applied := make(chan *config.Config, 100)
	c.SetApply(func(cfg *config.Config) error {
		select {
		case applied <- cfg:
		default:
		}
		return nil
	})
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		cctx, cc := context.WithTimeout(context.Background(), 5*time.Second)
		defer cc()
		_ = c.Close(cctx)
	})
	return c, first, applied
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
