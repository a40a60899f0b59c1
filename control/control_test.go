package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

type fakeCT struct{ last conntrack.DumpOptions }

func (f *fakeCT) Dump(w io.Writer, o conntrack.DumpOptions) error {
	f.last = o
	_, err := fmt.Fprintf(w, "udp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=5000,dport=53),reply=(src=172.31.6.24,dst=123.123.123.123,sport=53,dport=1024),zone=16\n")
	return err
}

type fakeProvider struct{ ct *fakeCT }

func (p *fakeProvider) Stats() (Stats, error) {
	var ds datapath.Stats
	ds.Drops[datapath.DropNeighMiss] = 3
	ds.Verdicts[datapath.VerdictTX] = 10
	ds.RX[flow.Underlay] = 13
	ds.Forwarded[datapath.FamilyIPv6][datapath.DirEgress] = datapath.Count{Packets: 4, Bytes: 520}
	ds.Forwarded[datapath.FamilyIPv4][datapath.DirIngress] = datapath.Count{Packets: 2, Bytes: 200}
	var xs bpf.Stats
	xs.FastPath.HitEgress6 = bpf.Counter{Packets: 11, Bytes: 1100}
	xs.RedirectND = bpf.Counter{Packets: 3, Bytes: 258}
	return Stats{Version: "test", Pipeline: PipelineStats(ds), Conntrack: conntrack.Stats{Entries: 1},
		Conntrack6: conntrack.Stats{Entries: 5, Capacity: 64}, XDP: []XDP{{Interface: "eth1", Stats: xs}}}, nil
}
func (p *fakeProvider) Conntrack() Conntrack { return p.ct }

// DumpFlows implements FlowDumper: it says which type it was asked for.
func (p *fakeProvider) DumpFlows(w io.Writer, typ string) error {
	_, err := fmt.Fprintf(w, "flows type=%q\n", typ)
	return err
}
func (p *fakeProvider) Now() int64 { return int64(10 * time.Second) }

func serve(t *testing.T, path string) (*Server, *fakeProvider) {
	t.Helper()
	p := &fakeProvider{ct: &fakeCT{}}
	s, err := Listen(path, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, p
}

func TestEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the server admits only uid 0; run as root")
	}
	path := filepath.Join(t.TempDir(), "run", "xgw.sock")
	_, p := serve(t, path)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v, want 0600", fi.Mode(), err)
	}
	if fi, _ := os.Stat(filepath.Dir(path)); fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, want 0700", fi.Mode())
	}
	c := NewClient(path)
	ctx := context.Background()

	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pipeline.Drops["neighbor-miss"] != 3 || st.Pipeline.Verdicts["tx"] != 10 ||
		st.Pipeline.RX["underlay"] != 13 || st.Conntrack.Entries != 1 {
		t.Fatalf("stats round trip: %+v", st)
	}
	// By family: the pipeline's forwarding, the IPv6 table, the fast
	// path's IPv6 hits and ND redirects.
	if f := st.Pipeline.Forwarded; f["ipv6"]["egress"] != (datapath.Count{Packets: 4, Bytes: 520}) ||
		f["ipv4"]["ingress"] != (datapath.Count{Packets: 2, Bytes: 200}) || f["ipv4"]["egress"] != (datapath.Count{}) || len(f) != 2 || len(f["ipv6"]) != 3 {
		t.Fatalf("forwarded by family: %+v", f)
	}
	if st.Conntrack6.Entries != 5 || st.Conntrack6.Capacity != 64 {
		t.Fatalf("conntrack6: %+v", st.Conntrack6)
	}
	if len(st.XDP) != 1 || st.XDP[0].Stats.FastPath.HitEgress6.Packets != 11 || st.XDP[0].Stats.RedirectND.Bytes != 258 {
		t.Fatalf("xdp: %+v", st.XDP)
	}
	if _, ok := st.Pipeline.Drops["none"]; ok {
		t.Error(`drops list the "none" reason`)
	}

	out, err := c.Conntrack(ctx, 16, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "udp,orig=(src=10.199.100.10") || p.ct.last.Zone != 16 || !p.ct.last.Verbose {
		t.Fatalf("conntrack: %q with %+v", out, p.ct.last)
	}
	if _, err := c.Conntrack(ctx, -1, false); err != nil || p.ct.last.Zone != -1 || p.ct.last.Verbose {
		t.Fatalf("conntrack all zones: %v %+v", err, p.ct.last)
	}

	for _, typ := range []string{"", "offloaded", "software"} {
		flows, err := c.Flows(ctx, typ)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("flows type=%q\n", typ); string(flows) != want {
			t.Fatalf("flows: %q, want %q", flows, want)
		}
	}
	if _, err := c.Flows(ctx, "bogus"); err == nil || !strings.Contains(err.Error(), "type") {
		t.Fatalf("bad flow type: %v", err)
	}

	if _, err := c.get(ctx, "/conntrack?zone=70000"); err == nil || !strings.Contains(err.Error(), "zone") {
		t.Fatalf("bad zone: %v", err)
	}
}

func TestListenReplacesStaleRefusesLive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xgw.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path, &fakeProvider{}, nil); err == nil || !strings.Contains(err.Error(), "another xgw is running") {
		t.Fatalf("Listen over a live socket: %v", err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // leaves a stale socket file behind, like a crash
	s, err := Listen(path, &fakeProvider{}, nil)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	s.Close(context.Background())
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left behind after Close: %v", err)
	}

	os.WriteFile(path, nil, 0o600)
	if _, err := Listen(path, &fakeProvider{}, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file: %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		v    any
		ok   bool
	}{
		{"root", &unix.Ucred{Uid: 0}, true},
		{"nobody", &unix.Ucred{Uid: 65534, Pid: 42}, false},
		{"cred error", fmt.Errorf("boom"), false},
		{"nothing", nil, false},
	} {
		c := ctx
		if tc.v != nil {
			c = context.WithValue(ctx, credKey{}, tc.v)
		}
		if err := authorize(c); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestClientUnreachable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.sock")
	_, err := NewClient(path).Stats(context.Background())
	want := "xgw: cannot reach the control socket " + path + ": is `xgw run` running? (no such socket)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// TestNonRootRefused runs this test binary as uid 65534 (nobody) against a
// socket it can reach, to prove SO_PEERCRED, not the file mode, refuses it.
func TestNonRootRefused(t *testing.T) {
	if path := os.Getenv("XGW_CONTROL_CHILD_SOCKET"); path != "" {
		_, err := NewClient(path).Stats(context.Background())
		fmt.Printf("child uid=%d err=%v\n", os.Getuid(), err)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root to run a child as another uid")
	}
	dir, err := os.MkdirTemp("", "xgwctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	self, _ := os.Executable()
	bin := filepath.Join(dir, "control.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sock", "xgw.sock")
	serve(t, path)
	// Open the path up so that only the peer-credential check stands.
	os.Chmod(filepath.Dir(path), 0o755)
	os.Chmod(path, 0o666)

	cmd := exec.Command(bin, "-test.run=^TestNonRootRefused$", "-test.count=1")
	cmd.Env = append(os.Environ(), "XGW_CONTROL_CHILD_SOCKET="+path)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "child uid=65534") ||
		!strings.Contains(string(out), "refused the request: permission denied: must be root (peer uid 65534") {
		t.Fatalf("child output:\n%s", out)
	}

	// With the real mode (0600) the kernel refuses the connect itself.
	os.Chmod(path, 0o600)
	cmd = exec.Command(bin, "-test.run=^TestNonRootRefused$", "-test.count=1")
	cmd.Env = append(os.Environ(), "XGW_CONTROL_CHILD_SOCKET="+path)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ = cmd.CombinedOutput()
	if !strings.Contains(string(out), "is `xgw run` running? (permission denied: must be root)") {
		t.Fatalf("child output with mode 0600:\n%s", out)
	}
}

// fakeReloader is a Provider that can reload: ok decides the outcome.
type fakeReloader struct {
	fakeProvider
	ok    bool
	calls int
}

func (f *fakeReloader) Reload() ([]string, error) {
	f.calls++
	if !f.ok {
		return nil, errors.New("routers[1].nat[0].external_ip: \"203.0.113\" is not an IPv4 address (line 42)")
	}
	return []string{"router gr1: nat snat 10.199.100.0/24 -> 203.0.113.11 added"}, nil
}

func TestReload(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the server admits only uid 0; run as root")
	}
	dir := t.TempDir()
	// A provider without Reload: 501, said plainly.
	path := filepath.Join(dir, "plain.sock")
	serve(t, path)
	if _, err := NewClient(path).Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "501 Not Implemented") {
		t.Fatalf("reload on a plain provider: %v", err)
	}

	rl := &fakeReloader{fakeProvider: fakeProvider{ct: &fakeCT{}}, ok: true}
	path = filepath.Join(dir, "rl.sock")
	s, err := Listen(path, rl, nil)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Close(context.Background())
	c := NewClient(path)
	out, err := c.Reload(context.Background())
	if err != nil || !strings.Contains(string(out), "203.0.113.11 added") {
		t.Fatalf("reload: %q, %v", out, err)
	}
	rl.ok = false
	_, err = c.Reload(context.Background())
	var re *ReloadError
	if !errors.As(err, &re) || !strings.Contains(re.Problems, "routers[1].nat[0].external_ip") {
		t.Fatalf("refused reload: %v", err)
	}
	// GET is not a reload.
	if _, err := c.get(context.Background(), "/reload"); err == nil {
		t.Fatal("GET /reload succeeded")
	}
	if rl.calls != 2 {
		t.Fatalf("Reload called %d times, want 2", rl.calls)
	}
}

// TestPipelineStatsBytes: bytes per verdict come from the pipeline's own
// counters, named like the packet counts.
func TestPipelineStatsBytes(t *testing.T) {
	var ds datapath.Stats
	ds.Verdicts[datapath.VerdictTX], ds.Bytes[datapath.VerdictTX] = 2, 3000
	p := PipelineStats(ds)
	if p.Bytes["tx"] != 3000 || p.Verdicts["tx"] != 2 || len(p.Bytes) != len(p.Verdicts) {
		t.Fatalf("bytes %v verdicts %v", p.Bytes, p.Verdicts)
	}
}

// tablesProvider serves real conntrack tables.
type tablesProvider struct {
	fakeProvider
	ts conntrack.Tables
}

func (p *tablesProvider) Conntrack() Conntrack { return p.ts }

// TestConntrackBothFamilies: GET /conntrack lists the IPv4 and the IPv6
// table in OVS's format, the zone filter applying to both.
func TestConntrackBothFamilies(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the server admits only uid 0; run as root")
	}
	v4, err := conntrack.NewTable(conntrack.Config{Capacity: 16})
	if err != nil {
		t.Fatal(err)
	}
	v6, err := conntrack.NewTable6(conntrack.Config{Capacity: 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range []uint16{6, 16} {
		k4 := conntrack.Tuple{Src: packet.IP4{10, 199, 100, 10}, Dst: packet.IP4{172, 31, 6, 24}, SrcPort: 5000, DstPort: 53, Proto: packet.ProtoUDP, Zone: z}
		k6 := conntrack.Tuple6{Src: packet.MustIP6("fd00::5"), Dst: packet.MustIP6("2001:db8::1"), SrcPort: 5000, DstPort: 53, Proto: packet.ProtoUDP, Zone: z}
		if _, err := v4.Commit(k4, &conntrack.Meta{Len: 60}, int64(time.Second), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := v6.Commit(k6, &conntrack.Meta{Len: 80}, int64(time.Second), nil); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "xgw.sock")
	s, err := Listen(path, &tablesProvider{fakeProvider: fakeProvider{ct: &fakeCT{}}, ts: conntrack.Tables{V4: v4, V6: v6}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Close(context.Background())
	out, err := NewClient(path).Conntrack(context.Background(), 16, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `udp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=5000,dport=53),reply=(src=172.31.6.24,dst=10.199.100.10,sport=53,dport=5000),zone=16
udp,orig=(src=fd00::5,dst=2001:db8::1,sport=5000,dport=53),reply=(src=2001:db8::1,dst=fd00::5,sport=53,dport=5000),zone=16
`
	if string(out) != want {
		t.Fatalf("zone 16:\n%s\nwant:\n%s", out, want)
	}
	all, err := NewClient(path).Conntrack(context.Background(), -1, true)
	if err != nil || strings.Count(string(all), "\n") != 4 || strings.Count(string(all), "src=fd00::5") != 2 || !strings.Contains(string(all), "bytes=80") {
		t.Fatalf("all zones, -s: %v\n%s", err, all)
	}
}
