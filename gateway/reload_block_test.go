package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/conntrack"
)

// answersWithin runs read and fails the test if it has not returned
// within d. A read that is stuck is left running: the test releases what
// blocks it afterwards.
func answersWithin(t *testing.T, what string, d time.Duration, read func()) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		read()
		close(done)
	}()
	select {
	case <-done:
		t.Logf("%s answered in %v", what, time.Since(start))
	case <-time.After(d):
		t.Errorf("%s did not answer within %v while a reload read the config: readers wait for the reload's file I/O", what, d)
	}
}

// TestReloadFIFOConfigDoesNotBlockReaders: the config path is a FIFO that
// nobody writes. Whatever the reload does with it (waits, or refuses it),
// the readers of the running configuration (state for /stats, zones for
// /metrics) answer at once.
func TestReloadFIFOConfigDoesNotBlockReaders(t *testing.T) {
	f := newFixture(t)
	fifo := filepath.Join(t.TempDir(), "xgw.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	f.r.path = fifo
	started := make(chan struct{})
	load := f.r.load
	f.r.load = func(p string) (*config.Config, error) {
		close(started)
		return load(p)
	}
	old := f.pipe.topo

	done := make(chan error, 1)
	go func() {
		_, err := f.r.Reload()
		done <- err
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("Reload did not start loading the file within 5 s")
	}

	answersWithin(t, "state()", 100*time.Millisecond, func() { f.r.state() })
	answersWithin(t, "zones()", 100*time.Millisecond, func() { f.r.zones() })

	// Let the reload end: open the FIFO's writer side (which a reader
	// blocked in open(2) needs) and close it (EOF to a reader blocked in
	// read(2)). Without a reader the open fails with ENXIO: nothing waits.
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-deadline:
			t.Fatal("the reload still had not returned 5 s after the FIFO's writer side was opened and closed")
		case <-tick.C:
			if w, werr := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); werr == nil {
				w.Close()
			} else if !errors.Is(werr, syscall.ENXIO) {
				t.Logf("open the FIFO's writer side: %v", werr)
			}
		}
	}
	// A FIFO is not a config file: refused, naming the path.
	if err == nil || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("reload of a FIFO: err = %v, want a refusal naming %s as not a regular file", err, fifo)
	}
	if strings.Count(err.Error(), fifo) != 1 {
		t.Errorf("the refusal names the path %d times: %v", strings.Count(err.Error(), fifo), err)
	}
	if f.pipe.topo != old || len(*f.ev) != 0 {
		t.Fatalf("a refused reload touched the gateway: %v", *f.ev)
	}
	if st := f.r.state(); st.ReloadFailures != 1 || !strings.Contains(st.LastError, "not a regular file") {
		t.Fatalf("state %+v", st)
	}
}

// TestReloadStuckReadBlocksOnlyReloads: a load that hangs (a slow disk)
// stalls its reload and the next one, which waits its turn so that the
// file read last is the one that runs; the readers and the drain checks
// go on.
func TestReloadStuckReadBlocksOnlyReloads(t *testing.T) {
	f := newFixture(t)
	load := f.r.load
	calls := make(chan chan struct{}, 2)
	f.r.load = func(p string) (*config.Config, error) {
		release := make(chan struct{})
		calls <- release
		<-release
		return load(p)
	}
	f.write(t, oldSNAT, newSNAT)
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { _, err := f.r.Reload(); first <- err }()
	var release1 chan struct{}
	select {
	case release1 = <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("the first reload did not start loading within 5 s")
	}

	answersWithin(t, "state()", 100*time.Millisecond, func() { f.r.state() })
	answersWithin(t, "zones()", 100*time.Millisecond, func() { f.r.zones() })
	answersWithin(t, "drain()", 100*time.Millisecond, func() { f.r.drain() })

	// A second reload waits for the first: it does not read the file yet.
	go func() { _, err := f.r.Reload(); second <- err }()
	select {
	case <-calls:
		t.Fatal("a second reload read the file while the first was still loading: reloads are not serialised")
	case err := <-second:
		t.Fatalf("a second reload returned while the first was still loading: %v", err)
	case <-time.After(50 * time.Millisecond):
	}

	close(release1)
	select {
	case err := <-first:
		if err != nil {
			t.Fatalf("first reload: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first reload did not end within 5 s of its load being released")
	}
	select {
	case release2 := <-calls:
		close(release2)
	case <-time.After(5 * time.Second):
		t.Fatal("the second reload did not load within 5 s of the first ending")
	}
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("second reload: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second reload did not end within 5 s")
	}
	if st := f.r.state(); st.Reloads != 2 || st.ReloadFailures != 0 {
		t.Fatalf("state %+v, want 2 reloads", st)
	}
	gr, _ := f.pipe.topo.RouterByName("gr1")
	if rules := gr.NATRules(); len(rules) != 1 || rules[0].External.String() != "203.0.113.11" {
		t.Fatalf("gr1 rules after both reloads: %+v", rules)
	}
}

// logRecords decodes the fixture's JSON log, one record a line.
func logRecords(t *testing.T, f *reloadFixture) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// TestReloadWarnsRemovedRuleWithConnections: a reload that removes the
// NAT rule of an address that live connections use logs a warning naming
// the rule, the address and how many connections; one whose address no
// connection uses does not.
func TestReloadWarnsRemovedRuleWithConnections(t *testing.T) {
	const msg = "reload removes a NAT rule that still has live connections"
	f := newFixture(t)
	f.ct.conns = []conntrack.ConnInfo{snatConn("203.0.113.10"), snatConn("203.0.113.10")}
	f.write(t, oldSNAT, newSNAT)
	if _, err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	var warn map[string]any
	for _, rec := range logRecords(t, f) {
		if rec["msg"] == msg {
			warn = rec
		}
	}
	if warn == nil {
		t.Fatalf("no %q in the log:\n%s", msg, f.logs)
	}
	rules, _ := warn["rules"].([]any)
	if warn["level"] != "WARN" || warn["address"] != "203.0.113.10" || warn["connections"] != float64(2) ||
		len(rules) != 1 || rules[0] != "router gr1: nat snat 10.199.100.0/24 -> 203.0.113.10 ports 1024-65535" ||
		!strings.Contains(fmt.Sprint(warn["outcome"]), "draining") {
		t.Fatalf("warning %v", warn)
	}

	// Back to the first address: 203.0.113.11 has no connection, no warning.
	f.logs.Reset()
	f.write(t, "", "")
	if _, err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.logs.String(), msg) {
		t.Fatalf("warned for an address no connection uses:\n%s", f.logs)
	}
}

// TestReloadSizeCap: a config file over config.MaxFileSize is refused
// with an error naming the path and the limit, and the running
// configuration stays; a file of exactly the limit is read.
func TestReloadSizeCap(t *testing.T) {
	f := newFixture(t)
	old := f.pipe.topo
	pad := func(size int) {
		t.Helper()
		s := f.base + "\n#"
		s += strings.Repeat("x", size-len(s)-1) + "\n"
		if err := os.WriteFile(f.path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pad(config.MaxFileSize + 1)
	_, err := f.r.Reload()
	if err == nil || !strings.Contains(err.Error(), f.path+": the file is larger than 16 MiB (16777216 bytes)") {
		t.Fatalf("reload of a %d-byte file: err = %v, want it refused naming the path and the 16 MiB limit", config.MaxFileSize+1, err)
	}
	if f.pipe.topo != old || len(*f.ev) != 0 {
		t.Fatalf("a refused reload touched the gateway: %v", *f.ev)
	}
	if st := f.r.state(); st.ReloadFailures != 1 || st.Reloads != 0 || !strings.Contains(st.LastError, "larger than 16 MiB") {
		t.Fatalf("state %+v", st)
	}
	if !strings.Contains(f.logs.String(), "reload refused; the running configuration stays") {
		t.Fatalf("the refusal is not logged:\n%s", f.logs)
	}

	pad(config.MaxFileSize)
	if summary, err := f.r.Reload(); err != nil || !slices.Equal(summary, []string{"no change that applies live"}) {
		t.Fatalf("reload of a file of exactly the limit: %v %v", summary, err)
	}
}

// TestReloadListsEveryProblem: config.Load wraps Parse's joined problems
// with the path; a refused reload still lists each of them.
func TestReloadListsEveryProblem(t *testing.T) {
	f := newFixture(t)
	f.base = strings.Replace(f.base, "nexthop: 198.51.100.2", "nexthop: 10.9.9.9", 1)
	f.write(t, oldSNAT, "external_ip: 203.0.113")
	_, err := f.r.Reload()
	for _, want := range []string{"routers[1].nat[0].external_ip", "routers[1].routes[1].nexthop"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %v does not name %s", err, want)
		}
	}
}
