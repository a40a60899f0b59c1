package ovn

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/config"
)

// raftMembers is the size of each test cluster.
const raftMembers = 3

// raftEnv is ovnEnv with clustered databases: for NB and SB, three
// ovsdb-servers (one raft cluster each) on unix sockets in a temporary
// directory (raft between them on unix: addresses too: no network, no
// namespace, no root), and ovn-northd, ovn-nbctl and ovn-sbctl given all
// three members.
type raftEnv struct {
	*ovnEnv
}

// raftSock is member i's (1-based) client socket of database name.
func (r *raftEnv) raftSock(name string, i int) string {
	return filepath.Join(r.dir, fmt.Sprintf("%s%d.sock", name, i))
}

// remotes is every member's client socket of name, comma-separated.
func (r *raftEnv) remotes(name string) string {
	var rs []string
	for i := 1; i <= raftMembers; i++ {
		rs = append(rs, "unix:"+r.raftSock(name, i))
	}
	return strings.Join(rs, ",")
}

// dbName is the OVSDB name of "nb" or "sb".
func dbName(name string) string {
	if name == "nb" {
		return "OVN_Northbound"
	}
	return "OVN_Southbound"
}

func newRaftEnv(t *testing.T) *raftEnv {
	t.Helper()
	for _, b := range []string{"ovsdb-server", "ovsdb-tool", "ovs-appctl", "ovn-northd", "ovn-nbctl", "ovn-sbctl"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("SKIPPED LOUDLY: %s not installed (make deps installs ovn-central): %v", b, err)
		}
	}
	dir, err := os.MkdirTemp("", "xgwraft")
	if err != nil {
		t.Fatal(err)
	}
	r := &raftEnv{&ovnEnv{t: t, dir: dir, procs: map[string]*exec.Cmd{}, ctlTimeout: 10}}
	r.nbRemote, r.sbRemote = r.remotes("nb"), r.remotes("sb")
	t.Cleanup(func() {
		for _, p := range r.procs {
			_ = p.Process.Kill()
			_, _ = p.Process.Wait()
		}
		if t.Failed() {
			for _, f := range []string{"northd.log", "sb1.log", "sb2.log", "sb3.log", "nb1.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("--- %s (tail)\n%s", f, tail(string(b), 1500))
			}
		}
		os.RemoveAll(dir)
	})
	for _, db := range []struct{ name, schema string }{{"nb", "/usr/share/ovn/ovn-nb.ovsschema"}, {"sb", "/usr/share/ovn/ovn-sb.ovsschema"}} {
		raftAddr := func(i int) string { return "unix:" + filepath.Join(dir, fmt.Sprintf("%s%d.raft", db.name, i)) }
		file := func(i int) string { return filepath.Join(dir, fmt.Sprintf("%s%d.db", db.name, i)) }
		r.run("ovsdb-tool", "create-cluster", file(1), db.schema, raftAddr(1))
		for i := 2; i <= raftMembers; i++ {
			r.run("ovsdb-tool", "join-cluster", file(i), dbName(db.name), raftAddr(i), raftAddr(1))
		}
		for i := 1; i <= raftMembers; i++ {
			m := fmt.Sprintf("%s%d", db.name, i)
			r.start(m, "ovsdb-server", "--remote=punix:"+r.raftSock(db.name, i), "--unixctl="+r.ctl(db.name, i),
				"--log-file="+filepath.Join(dir, m+".log"), file(i))
		}
	}
	// Every member joined: a member that is still joining answers no
	// client (and would not count towards a majority).
	for _, name := range []string{"nb", "sb"} {
		for i := 1; i <= raftMembers; i++ {
			waitFor(t, 20*time.Second, fmt.Sprintf("%s%d a cluster member", name, i), func() (bool, string) {
				st := r.clusterStatus(name, i)
				return strings.Contains(st, "Status: cluster member"), st
			})
		}
	}
	r.start("northd", "ovn-northd", "--ovnnb-db="+r.nbRemote, "--ovnsb-db="+r.sbRemote,
		"--unixctl="+filepath.Join(dir, "northd.ctl"), "--log-file="+filepath.Join(dir, "northd.log"), "-vfile:info")
	return r
}

func (r *raftEnv) ctl(name string, i int) string {
	return filepath.Join(r.dir, fmt.Sprintf("%s%d.ctl", name, i))
}

// clusterStatus is `ovs-appctl cluster/status` of member i of name, or
// the error.
func (r *raftEnv) clusterStatus(name string, i int) string {
	out, err := exec.Command("ovs-appctl", "--timeout=5", "-t", r.ctl(name, i), "cluster/status", dbName(name)).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return string(out)
}

// leader returns the member of name whose role is leader among the live
// ones (0: none now), and what each said.
func (r *raftEnv) leader(name string) (int, string) {
	var seen []string
	for i := 1; i <= raftMembers; i++ {
		if r.procs[fmt.Sprintf("%s%d", name, i)] == nil {
			continue
		}
		st := r.clusterStatus(name, i)
		role := "?"
		for _, l := range strings.Split(st, "\n") {
			if strings.HasPrefix(l, "Role: ") {
				role = strings.TrimPrefix(l, "Role: ")
			}
		}
		seen = append(seen, fmt.Sprintf("%s%d=%s", name, i, role))
		if role == "leader" {
			return i, strings.Join(seen, " ")
		}
	}
	return 0, strings.Join(seen, " ")
}

// raftConfig is an OVN-mode file naming every member of both clusters.
func (r *raftEnv) raftConfig(t *testing.T) *config.Config {
	t.Helper()
	quote := func(rs string) string { return `"` + strings.ReplaceAll(rs, ",", `", "`) + `"` }
	c, err := config.Parse([]byte(fmt.Sprintf(`
ovn:
  chassis: gateway01
  hostname: gateway01-host
  sb: [%s]
  nb: [%s]
  encap: { type: geneve, ip: 192.0.2.1, csum: true }
  bridge_mappings: { physnet1: gw-ext }
interfaces:
  underlay: { name: gw-under }
  external: { name: gw-ext }
`, quote(r.sbRemote), quote(r.nbRemote))))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRaftSBLeaderFailover: against 3-member NB and SB raft clusters
// (northd on all members), xgw given every member registers, claims and
// translates the gateway router; its SB connection is to the leader.
// The SB leader is killed: xgw reconnects to the new leader among the
// survivors, and picks up a NAT rule (NB) and a VIF moved to another
// chassis (SB) made after the failover; its Chassis row and its claim stay the
// same rows.
func TestRaftSBLeaderFailover(t *testing.T) {
	start := time.Now()
	r := newRaftEnv(t)
	r.seed()
	t.Logf("clusters up and seeded in %v", time.Since(start))

	ctl, first, applied := startController(t, r.raftConfig(t))
	if findRouter(first, "gr1") == nil {
		t.Fatalf("gr1 not served from the cluster: %v", ctl.Status().Problems)
	}
	me := r.sbctl("--bare", "--columns=_uuid", "find", "Chassis", "name=gateway01")
	claimed := func() (bool, string) {
		got := r.sbctl("--bare", "--columns=chassis", "find", "Port_Binding", "logical_port=gr1-join")
		return me != "" && got == me, fmt.Sprintf("gr1-join chassis %q, ours %q", got, me)
	}
	waitFor(t, 5*time.Second, "gr1-join claimed", claimed)

	// xgw's SB connection is to the leader (clients write there; a
	// follower cut off from the cluster would serve a stale database).
	lead, seen := r.leader("sb")
	if lead == 0 {
		t.Fatalf("no SB leader: %s", seen)
	}
	leadEP := "unix:" + r.raftSock("sb", lead)
	if ep := ctl.Status().Endpoint["sb"]; ep != leadEP {
		t.Fatalf("xgw's SB endpoint is %q, the leader is %s (%s)", ep, leadEP, seen)
	}

	// The leader hands the lead over and stays up: libovsdb drops it
	// and reaches the new leader at once, between two samples of the
	// connection watch, which must still see the move (endpoint,
	// disconnect count, resync).
	before := ctl.Status().Disconnects["sb"]
	if out, err := exec.Command("ovs-appctl", "--timeout=5", "-t", r.ctl("sb", lead), "cluster/failure-test", "transfer-leadership").CombinedOutput(); err != nil {
		t.Fatalf("transfer-leadership: %v: %s", err, out)
	}
	waitFor(t, 10*time.Second, "another SB leader after the transfer", func() (bool, string) {
		var s string
		l, s := r.leader("sb")
		if l != 0 && l != lead {
			lead, seen = l, s
			return true, s
		}
		return false, s
	})
	leadEP = "unix:" + r.raftSock("sb", lead)
	waitFor(t, 10*time.Second, "xgw on the SB leader after the transfer", func() (bool, string) {
		st := ctl.Status()
		return st.Connected["sb"] && st.Endpoint["sb"] == leadEP && st.Disconnects["sb"] > before,
			fmt.Sprintf("want %s; connected %v endpoint %q disconnects %v", leadEP, st.Connected, st.Endpoint, st.Disconnects)
	})

	t.Logf("SB leader sb%d (%s); killing it", lead, seen)
	r.stopDB(fmt.Sprintf("sb%d", lead))
	failed := time.Now()
	var newLead int
	waitFor(t, 15*time.Second, "a new SB leader among the survivors", func() (bool, string) {
		var s string
		newLead, s = r.leader("sb")
		return newLead != 0, s
	})
	t.Logf("new SB leader sb%d after %v", newLead, time.Since(failed))

	// Changes made after the failover: a NAT rule (NB) and vm1 moved to
	// a new chassis hv2 (SB only). Neither waits for northd, whose own
	// reconnect to the SB cluster may take seconds more (its IDL's
	// backoff): what is timed is xgw.
	r.nbctl("lr-nat-add", "gr1", "dnat_and_snat", "203.0.113.40", "10.199.100.10")
	r.sbctl("chassis-add", "hv2", "geneve", "192.0.2.3")
	r.sbctl("lsp-unbind", "vm1", "--", "lsp-bind", "vm1", "hv2")
	made := time.Now()
	c := waitApplied(t, applied, 10*time.Second, "the NAT rule and vm1 on hv2 after the failover", func(c *config.Config) bool {
		ch, _ := vmChassis(c, "vm1")
		return hasNAT(c, "gr1", "203.0.113.40") && ch == "hv2"
	})
	if findRouter(c, "gr1") == nil {
		t.Fatal("gr1 no longer served after the failover")
	}
	t.Logf("changes applied %v after the leader was killed, %v after the last was made", time.Since(failed), time.Since(made))

	st := ctl.Status()
	newEP := "unix:" + r.raftSock("sb", newLead)
	waitFor(t, 5*time.Second, "xgw connected to the new SB leader", func() (bool, string) {
		st = ctl.Status()
		return st.Connected["sb"] && st.Endpoint["sb"] == newEP, fmt.Sprintf("connected %v endpoint %q disconnects %v", st.Connected, st.Endpoint, st.Disconnects)
	})
	if st.Disconnects["sb"] == 0 {
		t.Errorf("SB disconnect not counted: %v", st.Disconnects)
	}

	// The same Chassis row (not re-created), its Chassis_Private, and
	// the claim.
	if got := r.sbctl("--bare", "--columns=_uuid", "find", "Chassis", "name=gateway01"); got != me {
		t.Fatalf("Chassis row after the failover %q, before %q", got, me)
	}
	if got := r.sbctl("--bare", "--columns=chassis", "find", "Chassis_Private", "name=gateway01"); got != me {
		t.Fatalf("Chassis_Private.chassis after the failover %q, want %q", got, me)
	}
	waitFor(t, 5*time.Second, "gr1-join still claimed", claimed)
	t.Logf("total %v", time.Since(start))
}
