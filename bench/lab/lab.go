// Package lab builds xgw's network-namespace lab: a VM, a hypervisor running
// a private Open vSwitch (userspace datapath) that speaks Geneve exactly as an
// OVN chassis does, the gateway namespace where xgw runs, and an "external"
// namespace standing in for the internet. Tests, the demo and benchmarks share
// it. See README.md for the diagram, addresses and OpenFlow rules.
//
// Everything lives in namespaces named xgwlab-<name>-<role>; nothing is
// created in the root namespace and no lab process listens outside the lab.
// Up tears down what it built on error; Down is idempotent. A SIGINT, SIGTERM
// or SIGHUP received while labs are up tears them all down before the signal
// takes its default effect.
//
// The package re-executes the current binary to run its UDP servers inside
// a namespace (see StartUDPSink): importing it installs an init hook that
// only acts when XGWLAB_SERVE is set in the environment.
package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configures Up.
type Options struct {
	// Name is the run's suffix: namespaces are xgwlab-<Name>-<role>.
	// Random (8 hex digits) when empty. Lowercase letters, digits; ≤ 12.
	Name string
	// VMs is the number of VM namespaces (default 1): "vm", "vm2", ...
	VMs int
	// WorkDir holds the private OVS's db/run/log dirs, server logs and the
	// lab's state file. Default: $TMPDIR/xgwlab/<Name>. Keep it short: OVS
	// puts unix sockets there (108-byte limit).
	WorkDir string
	// KeepWorkDir keeps WorkDir (logs) after Down.
	KeepWorkDir bool
	// Log, when set, receives every command the lab runs.
	Log func(format string, args ...any)
	// DualStack adds IPv6 beside IPv4 (addrs6.go, network6.go): IPv6
	// addresses and routes on the VMs, the router ports, the external
	// host; OVS flows that carry the VMs' IPv6 as OVN would; an IPv6-only
	// VM "vmr" on a second switch whose prefix is routed without NAT; the
	// xgw config's NAT66 and routes. Off: the IPv4 lab, unchanged.
	DualStack bool
	// Underlay6 (implies DualStack) carries Geneve between the hypervisor
	// and the gateway over IPv6: the chassis' encap IP and OVS's
	// remote_ip/local_ip are IPv6, xgw's config gets vtep_ip6.
	Underlay6 bool
}

// Lab is a running lab. Its methods are safe for concurrent use.
type Lab struct {
	addrs LabAddrs
	opts  Options

	// roleEnv, when set (the OVN lab), gives each role's environment
	// for Exec instead of ovsEnv.
	roleEnv func(role string) []string

	mu      sync.Mutex
	servers []*Server
	down    bool
}

var validName = regexp.MustCompile(`^[a-z0-9]{1,12}$`)

// DefaultWorkDir is the work dir of a lab named name when Options.WorkDir is
// empty.
func DefaultWorkDir(name string) string {
	return filepath.Join(os.TempDir(), "xgwlab", name)
}

// labName returns name, or a random one when it is empty, checked against
// validName (it becomes part of namespace and interface names).
func labName(name string) (string, error) {
	if name == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		name = hex.EncodeToString(b[:])
	}
	if !validName.MatchString(name) {
		return "", fmt.Errorf("lab: bad name %q (want [a-z0-9]{1,12})", name)
	}
	return name, nil
}

// Up builds a lab: namespaces, veths, addresses, the private OVS with its
// bridges and flows. On any error it tears down what it built.
func Up(ctx context.Context, opts Options) (l *Lab, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("lab: must run as root")
	}
	if opts.Name, err = labName(opts.Name); err != nil {
		return nil, err
	}
	if opts.VMs <= 0 {
		opts.VMs = 1
	}
	if opts.VMs > 200 {
		return nil, fmt.Errorf("lab: too many VMs (%d)", opts.VMs)
	}
	if opts.WorkDir == "" {
		opts.WorkDir = DefaultWorkDir(opts.Name)
	}
	wd, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, err
	}
	opts.WorkDir = wd
	if existing, _ := labNamespaces(opts.Name); len(existing) > 0 {
		return nil, fmt.Errorf("lab: %s already exists (%s)", opts.Name, strings.Join(existing, " "))
	}
	if err := os.MkdirAll(opts.WorkDir, 0o755); err != nil {
		return nil, err
	}
	if opts.Underlay6 {
		opts.DualStack = true
	}
	built := &Lab{addrs: newAddrs(opts.Name, opts.WorkDir, opts.VMs), opts: opts}
	if opts.DualStack {
		built.addrs.V6 = newAddrs6(opts.Name, opts.VMs, opts.Underlay6)
		built.addrs.Namespaces[RoutedVMRole] = built.addrs.V6.RoutedVM.NS
	}
	l = built
	register(built)
	defer func() {
		if err != nil {
			if derr := built.Down(); derr != nil {
				err = fmt.Errorf("%w (and teardown: %v)", err, derr)
			}
			l = nil
		}
	}()
	if err := l.writeState(); err != nil {
		return nil, err
	}
	if err := l.buildNetwork(ctx); err != nil {
		return nil, fmt.Errorf("lab %s: network: %w", opts.Name, err)
	}
	if err := l.buildNetwork6(ctx); err != nil {
		return nil, fmt.Errorf("lab %s: IPv6 network: %w", opts.Name, err)
	}
	if err := l.xdpPassPeers(); err != nil {
		return nil, fmt.Errorf("lab %s: %w", opts.Name, err)
	}
	if err := l.startOVS(ctx); err != nil {
		return nil, fmt.Errorf("lab %s: ovs: %w", opts.Name, err)
	}
	return l, nil
}

// Name is the lab's suffix.
func (l *Lab) Name() string { return l.addrs.Name }

// NS returns the full namespace name of role: "vm" (first VM), "vm2", ...,
// "hv", "gw" or "ext". "vm1" is accepted for "vm". Unknown roles give "".
func (l *Lab) NS(role string) string {
	if ns, ok := l.addrs.Namespaces[role]; ok {
		return ns
	}
	if role == "vm1" {
		return l.addrs.Namespaces["vm"]
	}
	return ""
}

// Config returns the lab's names, addresses and MACs.
func (l *Lab) Config() LabAddrs { return l.addrs }

// Exec returns a command that runs args inside role's namespace
// (`ip netns exec`). For "hv" the environment points the ovs-* tools at the
// private OVS, so l.Exec("hv", "ovs-ofctl", "dump-flows", "br-int") works.
func (l *Lab) Exec(role string, args ...string) *exec.Cmd {
	return l.ExecContext(context.Background(), role, args...)
}

// ExecContext is Exec with a context.
func (l *Lab) ExecContext(ctx context.Context, role string, args ...string) *exec.Cmd {
	ns := l.NS(role)
	if ns == "" {
		ns = "xgwlab-invalid-role-" + role // fails loudly in ip netns exec
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
	if l.roleEnv != nil {
		cmd.Env = append(os.Environ(), l.roleEnv(role)...)
	} else {
		cmd.Env = append(os.Environ(), l.ovsEnv()...)
	}
	return cmd
}

// OVSEnv is the environment (KEY=value) that points ovs-* tools at this lab's
// private OVS. Use it with `ip netns exec <NS("hv")>`.
func (l *Lab) OVSEnv() []string { return l.ovsEnv() }

func (l *Lab) ovsEnv() []string {
	d := filepath.Join(l.addrs.WorkDir, "ovs")
	return []string{
		"OVS_RUNDIR=" + d + "/run",
		"OVS_DBDIR=" + d + "/db",
		"OVS_LOGDIR=" + d + "/log",
		"OVS_SYSCONFDIR=" + d + "/etc",
		"OVS_PKGDATADIR=/usr/share/openvswitch",
	}
}

// run runs a command in the root namespace (only `ip` itself, which then
// acts in a lab namespace) and returns its error with its output.
func (l *Lab) run(ctx context.Context, stdin string, args ...string) error {
	return l.runCmd(exec.CommandContext(ctx, args[0], args[1:]...), stdin)
}

// nsRun runs args inside role's namespace.
func (l *Lab) nsRun(ctx context.Context, role string, args ...string) error {
	return l.runCmd(l.ExecContext(ctx, role, args...), "")
}

func (l *Lab) runCmd(cmd *exec.Cmd, stdin string) error {
	if l.opts.Log != nil {
		l.opts.Log("lab %s: %s", l.addrs.Name, strings.Join(cmd.Args, " "))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		in := ""
		if stdin != "" {
			in = " <<EOF\n" + stdin + "EOF"
		}
		return fmt.Errorf("%s%s: %w: %s", strings.Join(cmd.Args, " "), in, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Down stops every server and the private OVS, kills anything left running
// in the lab's namespaces and deletes them. Safe to call more than once and
// on a half-built lab; it tries every step and returns the first error.
func (l *Lab) Down() error {
	l.mu.Lock()
	servers := l.servers
	l.servers = nil
	l.down = true
	l.mu.Unlock()
	for _, s := range servers {
		s.Stop()
	}
	err := DownByName(l.addrs.Name)
	if !l.opts.KeepWorkDir {
		if e := os.RemoveAll(l.addrs.WorkDir); e != nil && err == nil {
			err = e
		}
	}
	unregister(l)
	return err
}

// DownByName tears down the lab called name, whoever built it: it kills
// every process inside its namespaces (OVS, servers, xgw) and deletes them.
// It does not remove the work dir.
func DownByName(name string) error {
	nss, err := labNamespaces(name)
	if err != nil {
		return err
	}
	killNamespaces(nss)
	var first error
	for _, ns := range nss {
		if err := exec.Command("ip", "netns", "del", ns).Run(); err != nil {
			if _, statErr := os.Stat("/run/netns/" + ns); statErr == nil && first == nil {
				first = fmt.Errorf("ip netns del %s: %w", ns, err)
			}
		}
	}
	return first
}

// killNamespaces sends SIGTERM to every process in nss, waits up to 3 s for
// them to go, then SIGKILLs what is left. Processes must be gone before the
// namespaces are deleted, or the namespaces (and their veths) outlive us.
func killNamespaces(nss []string) {
	deadline := time.Now().Add(3 * time.Second)
	sig := syscall.SIGTERM
	for {
		pids := nsPids(nss)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sig = syscall.SIGKILL
		}
		for _, p := range pids {
			syscall.Kill(p, sig)
		}
		if sig == syscall.SIGKILL && time.Now().After(deadline.Add(2*time.Second)) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nsPids lists the processes whose network namespace is one of nss
// (what `ip netns pids` does), by inode comparison.
func nsPids(nss []string) []int {
	want := map[uint64]bool{}
	for _, ns := range nss {
		var st syscall.Stat_t
		if syscall.Stat("/run/netns/"+ns, &st) == nil {
			want[st.Ino] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	var pids []int
	self := os.Getpid()
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == self {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) == nil && want[st.Ino] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// labNamespaces lists the existing namespaces of the lab called name.
func labNamespaces(name string) ([]string, error) {
	all, err := listNamespaces()
	var out []string
	for _, ns := range all {
		if strings.HasPrefix(ns, NSPrefix+name+"-") && !strings.Contains(ns[len(NSPrefix+name+"-"):], "-") {
			out = append(out, ns)
		}
	}
	return out, err
}

func listNamespaces() ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, err
}

// Status describes a lab found on the machine.
type Status struct {
	Name       string
	Namespaces []string
	WorkDir    string // from the state file, if found
	OwnerPID   int    // process that ran Up; 0 if unknown
	OwnerAlive bool
	Processes  int // processes running inside its namespaces
}

// List finds every lab on the machine (by its namespaces).
func List() ([]Status, error) {
	all, err := listNamespaces()
	byName := map[string]*Status{}
	for _, ns := range all {
		rest, ok := strings.CutPrefix(ns, NSPrefix)
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '-')
		if i <= 0 {
			continue
		}
		name := rest[:i]
		s := byName[name]
		if s == nil {
			s = &Status{Name: name}
			byName[name] = s
		}
		s.Namespaces = append(s.Namespaces, ns)
	}
	var out []Status
	for _, s := range byName {
		s.Processes = len(nsPids(s.Namespaces))
		if st, err := readState(DefaultWorkDir(s.Name)); err == nil {
			s.WorkDir, s.OwnerPID = st.WorkDir, st.PID
			s.OwnerAlive = syscall.Kill(st.PID, 0) == nil
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// state is what Up leaves in the work dir, for `xgw-lab status/down`.
type state struct {
	Name    string   `json:"name"`
	PID     int      `json:"pid"`
	WorkDir string   `json:"workdir"`
	Addrs   LabAddrs `json:"addrs"`
}

func (l *Lab) writeState() error {
	b, err := json.MarshalIndent(state{Name: l.addrs.Name, PID: os.Getpid(), WorkDir: l.addrs.WorkDir, Addrs: l.addrs}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.addrs.WorkDir, "lab.json"), b, 0o644)
}

func readState(workDir string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(workDir, "lab.json"))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// Attach returns a handle on a lab that another process brought up (e.g.
// `xgw-lab up`), from its state file in workDir ("" for the default).
// Down on it tears the lab down; servers started by the other process are
// killed with the namespaces.
func Attach(name, workDir string) (*Lab, error) {
	if workDir == "" {
		workDir = DefaultWorkDir(name)
	}
	st, err := readState(workDir)
	if err != nil {
		return nil, err
	}
	if st.Name != name {
		return nil, fmt.Errorf("lab: state in %s is for %q, not %q", workDir, st.Name, name)
	}
	l := &Lab{addrs: st.Addrs, opts: Options{Name: name, WorkDir: workDir, VMs: len(st.Addrs.VMs),
		DualStack: st.Addrs.V6 != nil, Underlay6: st.Addrs.V6 != nil && st.Addrs.V6.Underlay6}}
	if o, err := attachOVN(l); err == nil {
		return o.Lab, nil // an OVN lab: Exec gets each role's OVS/OVN environment
	}
	return l, nil
}

// Labs that are up in this process, torn down on a fatal signal.
var (
	regMu  sync.Mutex
	reg    = map[*Lab]bool{}
	sigCh  chan os.Signal
	sigSet = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}
)

func register(l *Lab) {
	regMu.Lock()
	defer regMu.Unlock()
	reg[l] = true
	if sigCh == nil {
		sigCh = make(chan os.Signal, 1)
		signal.Notify(sigCh, sigSet...)
		go onSignal(sigCh)
	}
}

func unregister(l *Lab) {
	regMu.Lock()
	defer regMu.Unlock()
	delete(reg, l)
	if len(reg) == 0 && sigCh != nil {
		signal.Stop(sigCh)
		close(sigCh)
		sigCh = nil
	}
}

func onSignal(ch chan os.Signal) {
	sig, ok := <-ch
	if !ok {
		return
	}
	regMu.Lock()
	labs := make([]*Lab, 0, len(reg))
	for l := range reg {
		labs = append(labs, l)
	}
	regMu.Unlock()
	fmt.Fprintf(os.Stderr, "lab: %v: tearing down %d lab(s)\n", sig, len(labs))
	var wg sync.WaitGroup
	for _, l := range labs {
		wg.Add(1)
		go func() { defer wg.Done(); l.Down() }()
	}
	wg.Wait()
	// Take the signal's default action now that nothing is left behind.
	signal.Reset(sig)
	if s, ok := sig.(syscall.Signal); ok {
		syscall.Kill(os.Getpid(), s)
	}
	time.Sleep(time.Second)
	os.Exit(1)
}
