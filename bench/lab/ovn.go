package lab

// The OVN lab: a real OVN 23.03 deployment in network namespaces (README.md
// "The OVN lab"). ns ovn runs the NB and SB ovsdb-servers and ovn-northd on
// unix sockets in the work dir (reachable from every namespace through the
// filesystem) and the underlay bridge; ns hv1 and hv2 each run a private OVS
// (netdev datapath) and ovn-controller; VMs hang off their br-int; ns gw is
// the gateway chassis gateway01 — xgw, or a real ovn-controller (the
// baseline, GatewayOVN); ns ext is the internet. The logical topology is made
// by ovn-nbctl only (Topology), never by hand-written OpenFlow.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// GatewayKind says what serves chassis gateway01 in ns gw.
type GatewayKind int

const (
	// GatewayXGW leaves ns gw to xgw: gw-u holds the encap IP, gw-x the
	// GR's external MAC and IP; nothing runs until the caller starts xgw.
	GatewayXGW GatewayKind = iota
	// GatewayOVN runs a real OVS + ovn-controller as gateway01 in ns gw
	// (gw-u on br-phy, gw-x on br-ex mapped to physnet1): the baseline an
	// operator compares xgw to, and the proof that the topology is right.
	GatewayOVN
)

// OVNOptions configures UpOVN.
type OVNOptions struct {
	Name        string // as Options.Name
	WorkDir     string // as Options.WorkDir
	KeepWorkDir bool
	Log         func(format string, args ...any) `json:"-"`
	Gateway     GatewayKind
	// DeferGateway (GatewayOVN) builds ns gw's OVS but leaves
	// ovn-controller gateway01 to StartOVNGateway.
	DeferGateway bool
	// NoTopology skips Topology (the caller makes its own, e.g. FillScale).
	NoTopology bool
	// DistributedGateway builds the OpenStack shape instead of the
	// gateway router: dr's own port dr-ext on the ext switch is a
	// distributed gateway port (gateway_chassis gateway01, priority 20),
	// and dr carries the NAT rules (see Topology).
	DistributedGateway bool
}

// OVN is a running OVN lab. It is a Lab (NS, Exec, Do, servers, Down) with
// a different plan: roles "ovn", "hv1", "hv2", "gw", "ext", "vm1".."vm3".
type OVN struct {
	*Lab
	Plan OVNAddrs
	opts OVNOptions

	mu     sync.Mutex
	vmAt   map[string]string // VM role -> chassis it is bound on now
	sbArgs []string          // how the SB ovsdb-server was started
}

// UpOVN builds an OVN lab and, unless NoTopology, its logical topology, and
// waits until every VM port is up on its chassis. On error it tears down
// what it built.
func UpOVN(ctx context.Context, opts OVNOptions) (o *OVN, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("lab: must run as root")
	}
	if opts.Name, err = labName(opts.Name); err != nil {
		return nil, err
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
	for _, d := range []string{"ovn", "gw", "hv1", "hv2"} {
		if err := os.MkdirAll(filepath.Join(wd, d), 0o755); err != nil {
			return nil, err
		}
	}
	addrs, plan := newOVNAddrs(opts.Name, wd)
	l := &Lab{addrs: addrs, opts: Options{Name: opts.Name, WorkDir: wd, KeepWorkDir: opts.KeepWorkDir, Log: opts.Log}}
	o = &OVN{Lab: l, Plan: plan, opts: opts, vmAt: map[string]string{}}
	l.roleEnv = o.env
	register(l)
	built := o
	defer func() {
		if err != nil {
			if derr := built.Down(); derr != nil {
				err = fmt.Errorf("%w (and teardown: %v)", err, derr)
			}
			o = nil
		}
	}()
	if err := l.writeState(); err != nil {
		return nil, err
	}
	if err := o.writeOVNState(); err != nil {
		return nil, err
	}
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"network", o.buildNetwork},
		{"central", o.startCentral},
		{"hv1", func(ctx context.Context) error { return o.startHypervisor(ctx, plan.Chassis[0]) }},
		{"hv2", func(ctx context.Context) error { return o.startHypervisor(ctx, plan.Chassis[1]) }},
	}
	if opts.Gateway == GatewayOVN {
		steps = append(steps, struct {
			what string
			fn   func(context.Context) error
		}{"gateway ovs", o.startGatewayOVS})
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("lab %s: %s: %w", opts.Name, s.what, err)
		}
	}
	if !opts.NoTopology {
		if err := o.Topology(ctx); err != nil {
			return nil, fmt.Errorf("lab %s: topology: %w", opts.Name, err)
		}
		for _, vm := range plan.VMs {
			if err := o.BindVM(ctx, vm.Role, vm.Chassis); err != nil {
				return nil, fmt.Errorf("lab %s: %w", opts.Name, err)
			}
		}
		for _, vm := range plan.VMs {
			if err := o.WaitPortChassis(ctx, vm.LSP, vm.Chassis, 30*time.Second); err != nil {
				return nil, fmt.Errorf("lab %s: %w", opts.Name, err)
			}
		}
	}
	if opts.Gateway == GatewayOVN && !opts.DeferGateway {
		if err := o.StartOVNGateway(ctx); err != nil {
			return nil, fmt.Errorf("lab %s: gateway: %w", opts.Name, err)
		}
	}
	return o, nil
}

// env is the environment of role's commands: every role can reach NB and
// SB (OVN_NB_DB, OVN_SB_DB); a chassis role's ovs-* and ovn-appctl tools
// are pointed at its private OVS and OVN run dirs.
func (o *OVN) env(role string) []string {
	wd := o.addrs.WorkDir
	e := []string{
		"OVN_NB_DB=" + o.Plan.NBRemote,
		"OVN_SB_DB=" + o.Plan.SBRemote,
		"OVS_PKGDATADIR=/usr/share/openvswitch",
		"OVN_PKGDATADIR=/usr/share/ovn",
	}
	switch role {
	case "hv1", "hv2", "gw":
		d := filepath.Join(wd, role)
		e = append(e,
			"OVS_RUNDIR="+d+"/ovs/run", "OVS_DBDIR="+d+"/ovs/db",
			"OVS_LOGDIR="+d+"/ovs/log", "OVS_SYSCONFDIR="+d+"/ovs/etc",
			"OVN_RUNDIR="+d+"/ovn", "OVN_LOGDIR="+d+"/ovn", "OVN_DBDIR="+d+"/ovn", "OVN_SYSCONFDIR="+d+"/ovn")
	default:
		d := filepath.Join(wd, "ovn")
		e = append(e, "OVN_RUNDIR="+d, "OVN_LOGDIR="+d, "OVN_DBDIR="+d, "OVN_SYSCONFDIR="+d,
			"OVS_RUNDIR="+d, "OVS_LOGDIR="+d)
	}
	return e
}

// Options returns the options the lab was built with.
func (o *OVN) Options() OVNOptions { return o.opts }

// NBCtl runs ovn-nbctl (in ns ovn) and returns its trimmed output.
func (o *OVN) NBCtl(ctx context.Context, args ...string) (string, error) {
	return o.output(ctx, "ovn", append([]string{"ovn-nbctl", "--timeout=20"}, args...)...)
}

// SBCtl runs ovn-sbctl (in ns ovn) and returns its trimmed output.
func (o *OVN) SBCtl(ctx context.Context, args ...string) (string, error) {
	return o.output(ctx, "ovn", append([]string{"ovn-sbctl", "--timeout=20"}, args...)...)
}

// output runs args in role's namespace and returns stdout, or an error
// with stdout and stderr.
func (o *OVN) output(ctx context.Context, role string, args ...string) (string, error) {
	if o.opts.Log != nil {
		o.opts.Log("lab %s: %s: %s", o.addrs.Name, role, strings.Join(args, " "))
	}
	return o.quiet(ctx, role, args...)
}

// quiet is output without the log line (for polls).
func (o *OVN) quiet(ctx context.Context, role string, args ...string) (string, error) {
	cmd := o.ExecContext(ctx, role, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// buildNetwork creates the namespaces, the underlay bridge with the three
// chassis' veths, the VMs' veths into their first chassis, the external
// veth, addresses and routes; offloads off everywhere.
func (o *OVN) buildNetwork(ctx context.Context) error {
	a, p := &o.addrs, &o.Plan
	roles := []string{"ovn", "hv1", "hv2", "gw", "ext"}
	for _, vm := range p.VMs {
		roles = append(roles, vm.Role)
	}
	var b strings.Builder
	for _, r := range roles {
		fmt.Fprintf(&b, "netns add %s\n", o.NS(r))
	}
	if err := o.run(ctx, b.String(), "ip", "-batch", "-"); err != nil {
		return err
	}
	for _, r := range roles {
		args := []string{"sysctl", "-q", "-e", "-w",
			"net.ipv6.conf.all.disable_ipv6=1",
			"net.ipv6.conf.default.disable_ipv6=1",
			"net.ipv4.ip_forward=0"}
		// Where OVS owns a veth (netdev datapath reads it with
		// AF_PACKET), the kernel must not answer ARP for br-phy's
		// address out of that veth with the veth's MAC.
		if r == "hv1" || r == "hv2" || (r == "gw" && o.opts.Gateway == GatewayOVN) {
			args = append(args, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.default.arp_ignore=1")
		}
		if err := o.nsRun(ctx, r, args...); err != nil {
			return err
		}
	}
	batch := func(role, script string) error {
		return o.run(ctx, script, "ip", "-n", o.NS(role), "-batch", "-")
	}
	// The underlay: bridge ul in ns ovn, one veth per chassis.
	var ul strings.Builder
	fmt.Fprintf(&ul, "link set lo up\nlink add %s mtu %d type bridge\n", UnderlayBridge, UnderlayMTU)
	chassisEnds := []struct{ role, iface, mac string }{
		{"hv1", HVUnderlayIface, ""}, {"hv2", HVUnderlayIface, ""},
		{"gw", GWUnderlayIface, a.GWUnderlayMAC.String()},
	}
	for _, c := range chassisEnds {
		addr := ""
		if c.mac != "" {
			addr = " address " + c.mac
		}
		fmt.Fprintf(&ul, "link add ul-%[1]s mtu %[2]d type veth peer name %[3]s mtu %[2]d%[4]s netns %[5]s\n",
			c.role, UnderlayMTU, c.iface, addr, o.NS(c.role))
		fmt.Fprintf(&ul, "link set ul-%s master %s up\n", c.role, UnderlayBridge)
	}
	fmt.Fprintf(&ul, "link set %s up\n", UnderlayBridge)
	if err := batch("ovn", ul.String()); err != nil {
		return err
	}
	for _, vm := range p.VMs {
		if err := batch(vm.Role, fmt.Sprintf(`link set lo up
link add %[1]s mtu %[2]d address %[3]s type veth peer name %[4]s mtu %[2]d netns %[5]s
link set %[1]s up
addr add %[6]s/%[7]d dev %[1]s
route add default via %[8]s dev %[1]s
`, vm.Iface, VMMTU, vm.MAC, vm.HVPort, o.NS(vm.Chassis), vm.IP, a.VMPrefix.Bits(), a.VMGateway)); err != nil {
			return err
		}
	}
	// gw: the external veth to ext. With xgw, gw-u holds the encap IP
	// and gw-x the GR's external IP (as the seed lab); with a real
	// ovn-controller both belong to OVS bridges (startGatewayOVS).
	gw := fmt.Sprintf("link set lo up\nlink add %s address %s type veth peer name %s address %s netns %s\n",
		GWExternalIface, a.GWExternalMAC, ExtIface, a.ExtMAC, o.NS("ext"))
	if o.opts.Gateway == GatewayXGW {
		gw += fmt.Sprintf("addr add %s/%d dev %s\naddr add %s dev %s\n",
			a.VTEPIP, a.UnderlayNet.Bits(), GWUnderlayIface, a.GWExternalIP, GWExternalIface)
	}
	gw += fmt.Sprintf("link set %s up\nlink set %s up\n", GWUnderlayIface, GWExternalIface)
	if err := batch("gw", gw); err != nil {
		return err
	}
	for _, c := range p.Chassis {
		var hv strings.Builder
		fmt.Fprintf(&hv, "link set lo up\nlink set %s up\n", HVUnderlayIface)
		for _, vm := range p.VMs {
			if vm.Chassis == c.Name {
				fmt.Fprintf(&hv, "link set %s up\n", vm.HVPort)
			}
		}
		if err := batch(c.Name, hv.String()); err != nil {
			return err
		}
	}
	if err := batch("ext", fmt.Sprintf(`link set lo up
addr add %[1]s/%[2]d dev %[3]s
link set %[3]s up
route add %[4]s via %[5]s dev %[3]s
`, a.ExtIP, a.GWExternalIP.Bits(), ExtIface, p.ExtNAT, a.GWExternalIP.Addr())); err != nil {
		return err
	}
	offIfs := map[string][]string{
		"ovn": {"ul-hv1", "ul-hv2", "ul-gw"},
		"hv1": {HVUnderlayIface}, "hv2": {HVUnderlayIface},
		"gw":  {GWUnderlayIface, GWExternalIface},
		"ext": {ExtIface},
	}
	for _, vm := range p.VMs {
		offIfs[vm.Role] = []string{vm.Iface}
		offIfs[vm.Chassis] = append(offIfs[vm.Chassis], vm.HVPort)
	}
	for role, ifs := range offIfs {
		if err := o.offloadsOff(ctx, role, ifs...); err != nil {
			return err
		}
	}
	// xgw's fast path redirects between gw-u and gw-x: their peers need
	// an XDP program to accept redirected frames (xdppass.go).
	if o.opts.Gateway == GatewayXGW {
		return o.xdpPass([]struct{ role, iface string }{{"ovn", "ul-gw"}, {"ext", ExtIface}})
	}
	return nil
}

// offloadsOff turns veth offloads off as the seed lab does, and fails if
// one that matters stays on.
func (o *OVN) offloadsOff(ctx context.Context, role string, ifaces ...string) error {
	var s strings.Builder
	for _, ifc := range ifaces {
		fmt.Fprintf(&s, "ethtool -K %s rx off tx off tso off gso off gro off sg off >/dev/null 2>&1 || true\n", ifc)
		fmt.Fprintf(&s, "ethtool -k %s | grep -E '^(tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload): on' && exit 1\n", ifc)
	}
	s.WriteString("exit 0\n")
	return o.nsRun(ctx, role, "sh", "-c", s.String())
}

// startCentral creates the NB and SB databases and starts their
// ovsdb-servers and ovn-northd in ns ovn.
func (o *OVN) startCentral(ctx context.Context) error {
	d := filepath.Join(o.addrs.WorkDir, "ovn")
	for _, db := range []string{"nb", "sb"} {
		if err := o.nsRun(ctx, "ovn", "ovsdb-tool", "create", filepath.Join(d, db+".db"),
			fmt.Sprintf("/usr/share/ovn/ovn-%s.ovsschema", db)); err != nil {
			return err
		}
	}
	nbArgs := o.dbServerArgs("nb")
	if err := o.nsRun(ctx, "ovn", nbArgs...); err != nil {
		return err
	}
	o.sbArgs = o.dbServerArgs("sb")
	if err := o.nsRun(ctx, "ovn", o.sbArgs...); err != nil {
		return err
	}
	return o.nsRun(ctx, "ovn", "ovn-northd", "--ovnnb-db="+o.Plan.NBRemote, "--ovnsb-db="+o.Plan.SBRemote,
		"--pidfile="+filepath.Join(d, "northd.pid"), "--unixctl="+filepath.Join(d, "northd.ctl"),
		"--log-file="+filepath.Join(d, "northd.log"), "--detach", "--no-chdir", "-vconsole:off")
}

func (o *OVN) dbServerArgs(db string) []string {
	d := filepath.Join(o.addrs.WorkDir, "ovn")
	return []string{"ovsdb-server", filepath.Join(d, db+".db"),
		"--remote=punix:" + filepath.Join(d, db+".sock"),
		"--pidfile=" + filepath.Join(d, db+".pid"),
		"--unixctl=" + filepath.Join(d, db+".ctl"),
		"--log-file=" + filepath.Join(d, db+".log"),
		"--detach", "--no-chdir", "-vconsole:off"}
}

// startOVS starts a private OVS in role's namespace (state in
// <workdir>/<role>/ovs) with br-phy owning the underlay veth and the
// underlay IP on its internal port, and br-int created as ovn-controller
// wants it (netdev, fail-mode secure). Extra ovs-vsctl args follow.
func (o *OVN) startOVS(ctx context.Context, role, underlay string, ip string, mac string, extra ...string) error {
	d := filepath.Join(o.addrs.WorkDir, role, "ovs")
	for _, sub := range []string{"run", "db", "log", "etc"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(o.addrs.WorkDir, role, "ovn"), 0o755); err != nil {
		return err
	}
	db := filepath.Join(d, "db", "conf.db")
	sock := "unix:" + filepath.Join(d, "run", "db.sock")
	if err := o.nsRun(ctx, role, "ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return err
	}
	if err := o.nsRun(ctx, role, "ovsdb-server", db, "--remote=p"+sock, "--pidfile", "--detach", "--no-chdir",
		"--log-file", "-vconsole:off"); err != nil {
		return err
	}
	if err := o.nsRun(ctx, role, "ovs-vswitchd", sock, "--pidfile", "--detach", "--no-chdir",
		"--log-file", "-vconsole:off", "--disable-system", "--disable-system-route"); err != nil {
		return err
	}
	vsctl := append([]string{"ovs-vsctl", "--timeout=10", "--", "init",
		"--", "add-br", "br-phy",
		"--", "set", "bridge", "br-phy", "datapath_type=netdev", "other-config:hwaddr=" + mac,
		"--", "set", "interface", "br-phy", fmt.Sprintf("mtu_request=%d", UnderlayMTU),
		"--", "add-port", "br-phy", underlay,
		"--", "add-br", "br-int",
		"--", "set", "bridge", "br-int", "datapath_type=netdev", "fail-mode=secure",
	}, extra...)
	if err := o.nsRun(ctx, role, vsctl...); err != nil {
		return err
	}
	if err := o.run(ctx, fmt.Sprintf("addr add %s/%d dev br-phy\nlink set br-phy up\n", ip, o.addrs.UnderlayNet.Bits()),
		"ip", "-n", o.NS(role), "-batch", "-"); err != nil {
		return err
	}
	for try := 0; ; try++ {
		err := o.nsRun(ctx, role, "ovs-appctl", "ovs/route/add", o.addrs.UnderlayNet.String(), "br-phy")
		if err == nil {
			break
		}
		if try == 100 || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Every peer's MAC preset: no first packet lost to OVS's ARP.
	peers := map[string]string{o.addrs.VTEPIP.String(): o.addrs.GWUnderlayMAC.String()}
	for _, c := range o.Plan.Chassis {
		peers[c.UnderlayIP.String()] = c.MAC.String()
	}
	delete(peers, ip)
	for pip, pmac := range peers {
		if err := o.nsRun(ctx, role, "ovs-appctl", "tnl/neigh/set", "br-phy", pip, pmac); err != nil {
			return err
		}
	}
	return nil
}

// startController sets the chassis' identity in its OVS and starts its
// ovn-controller.
func (o *OVN) startController(ctx context.Context, role, systemID, encapIP string, extra ...string) error {
	set := append([]string{"ovs-vsctl", "--timeout=10", "set", "open_vswitch", ".",
		"external_ids:system-id=" + systemID,
		"external_ids:hostname=" + systemID,
		"external_ids:ovn-remote=" + o.Plan.SBRemote,
		"external_ids:ovn-encap-type=geneve",
		"external_ids:ovn-encap-ip=" + encapIP,
		"external_ids:ovn-bridge-datapath-type=netdev",
	}, extra...)
	if err := o.nsRun(ctx, role, set...); err != nil {
		return err
	}
	d := filepath.Join(o.addrs.WorkDir, role)
	return o.nsRun(ctx, role, "ovn-controller", "unix:"+filepath.Join(d, "ovs", "run", "db.sock"),
		"--pidfile", "--detach", "--no-chdir", "--log-file", "-vconsole:off")
}

// startHypervisor starts hv's OVS and ovn-controller.
func (o *OVN) startHypervisor(ctx context.Context, c OVNChassis) error {
	if err := o.startOVS(ctx, c.Name, HVUnderlayIface, c.UnderlayIP.String(), c.MAC.String()); err != nil {
		return err
	}
	return o.startController(ctx, c.Name, c.Name, c.UnderlayIP.String())
}

// startGatewayOVS builds ns gw's OVS for the baseline: br-phy with gw-u and
// the encap IP (gw-u's MAC on br-phy), br-ex with gw-x for physnet1.
func (o *OVN) startGatewayOVS(ctx context.Context) error {
	a := &o.addrs
	return o.startOVS(ctx, "gw", GWUnderlayIface, a.VTEPIP.String(), a.GWUnderlayMAC.String(),
		"--", "add-br", "br-ex", "--", "set", "bridge", "br-ex", "datapath_type=netdev",
		"--", "add-port", "br-ex", GWExternalIface)
}

// StartOVNGateway starts the real ovn-controller gateway01 in ns gw
// (GatewayOVN) and waits until it has claimed the gateway router.
func (o *OVN) StartOVNGateway(ctx context.Context) error {
	if o.opts.Gateway != GatewayOVN {
		return errors.New("lab: StartOVNGateway needs Gateway: GatewayOVN")
	}
	if err := o.startController(ctx, "gw", GatewayChassis, o.addrs.VTEPIP.String(),
		"external_ids:ovn-bridge-mappings="+PhysNet+":br-ex"); err != nil {
		return err
	}
	if o.opts.NoTopology {
		return nil
	}
	return o.WaitPortChassis(ctx, o.GatewayPorts()[0], GatewayChassis, 30*time.Second)
}

// StopOVNGateway stops ovn-controller gateway01 the way an operator takes
// a chassis out (`ovn-appctl exit`: it removes its Chassis rows).
func (o *OVN) StopOVNGateway(ctx context.Context) error {
	ctl, err := o.ControllerCtl("gw")
	if err != nil {
		return err
	}
	return o.nsRun(ctx, "gw", "ovn-appctl", "-t", ctl, "exit")
}

// ControllerCtl is the unixctl socket of role's ovn-controller: 23.03 has
// no --unixctl, its socket is $OVN_RUNDIR/ovn-controller.<pid>.ctl.
func (o *OVN) ControllerCtl(role string) (string, error) {
	d := filepath.Join(o.addrs.WorkDir, role, "ovn")
	b, err := os.ReadFile(filepath.Join(d, "ovn-controller.pid"))
	if err != nil {
		return "", err
	}
	return filepath.Join(d, fmt.Sprintf("ovn-controller.%s.ctl", strings.TrimSpace(string(b)))), nil
}

// Topology creates the logical topology with ovn-nbctl, in one transaction:
//
//	sw1 10.199.100.0/24 (vm1, vm2, vm3) -- dr (distributed) -- join 172.16.255.0/24
//	  -- gr (options:chassis=gateway01) -- ext switch (localnet physnet1) -- 198.51.100.0/24
//
// with SNAT of sw1 to 203.0.113.10 and a dnat_and_snat floating IP
// 203.0.113.20 for vm3 on gr, a default route on dr to gr, and on gr a
// route back to sw1 and a default route to the ext host.
//
// With DistributedGateway there is no join switch and no gateway router:
//
//	sw1 10.199.100.0/24 -- dr -- dr-ext (gateway_chassis gateway01) -- ext switch (localnet physnet1)
//
// dr-ext takes the GR's external MAC and address, dr has the default
// route to the ext host and the same SNAT and floating IP.
func (o *OVN) Topology(ctx context.Context) error {
	a, p := &o.addrs, &o.Plan
	var c [][]string
	add := func(args ...string) { c = append(c, args) }
	add("ls-add", OVNTenantSwitch)
	for _, vm := range p.VMs {
		add("lsp-add", OVNTenantSwitch, vm.LSP)
		add("lsp-set-addresses", vm.LSP, vm.MAC.String()+" "+vm.IP.String())
	}
	router := func(sw, swPort, rPort string) {
		add("lsp-add", sw, swPort)
		add("lsp-set-type", swPort, "router")
		add("lsp-set-addresses", swPort, "router")
		add("lsp-set-options", swPort, "router-port="+rPort)
	}
	add("lr-add", OVNDistributedRouter)
	add("lrp-add", OVNDistributedRouter, "dr-sw1", a.VMGWMAC.String(), fmt.Sprintf("%s/%d", a.VMGateway, a.VMPrefix.Bits()))
	router(OVNTenantSwitch, "sw1-dr", "dr-sw1")
	fip, _ := p.VM(p.FIPVM)
	if o.opts.DistributedGateway {
		add("lrp-add", OVNDistributedRouter, DistributedGatewayPort, a.GWExternalMAC.String(), a.GWExternalIP.String())
		add("lrp-set-gateway-chassis", DistributedGatewayPort, GatewayChassis, "20")
		add("ls-add", OVNExternalSwitch)
		router(OVNExternalSwitch, "ext-dr", DistributedGatewayPort)
		add("lsp-add", OVNExternalSwitch, "ext-localnet")
		add("lsp-set-type", "ext-localnet", "localnet")
		add("lsp-set-addresses", "ext-localnet", "unknown")
		add("lsp-set-options", "ext-localnet", "network_name="+PhysNet)
		add("lr-route-add", OVNDistributedRouter, "0.0.0.0/0", a.ExtIP.String())
		add("lr-nat-add", OVNDistributedRouter, "snat", a.SNATIP.String(), a.VMPrefix.String())
		add("lr-nat-add", OVNDistributedRouter, "dnat_and_snat", p.FloatingIP.String(), fip.IP.String())
		return o.nbctlBatch(ctx, c)
	}
	add("ls-add", OVNJoinSwitch)
	add("lrp-add", OVNDistributedRouter, "dr-join", a.DRJoinMAC.String(), a.DRJoinIP.String())
	router(OVNJoinSwitch, "join-dr", "dr-join")
	add("lr-add", OVNGatewayRouter)
	add("set", "logical_router", OVNGatewayRouter, "options:chassis="+GatewayChassis)
	add("lrp-add", OVNGatewayRouter, "gr-join", a.GRJoinMAC.String(), a.GRJoinIP.String())
	router(OVNJoinSwitch, "join-gr", "gr-join")
	add("lrp-add", OVNGatewayRouter, "gr-ext", a.GWExternalMAC.String(), a.GWExternalIP.String())
	add("ls-add", OVNExternalSwitch)
	router(OVNExternalSwitch, "ext-gr", "gr-ext")
	add("lsp-add", OVNExternalSwitch, "ext-localnet")
	add("lsp-set-type", "ext-localnet", "localnet")
	add("lsp-set-addresses", "ext-localnet", "unknown")
	add("lsp-set-options", "ext-localnet", "network_name="+PhysNet)
	add("lr-route-add", OVNDistributedRouter, "0.0.0.0/0", a.GRJoinIP.Addr().String())
	add("lr-route-add", OVNGatewayRouter, a.VMPrefix.String(), a.DRJoinIP.Addr().String())
	add("lr-route-add", OVNGatewayRouter, "0.0.0.0/0", a.ExtIP.String())
	add("lr-nat-add", OVNGatewayRouter, "snat", a.SNATIP.String(), a.VMPrefix.String())
	add("lr-nat-add", OVNGatewayRouter, "dnat_and_snat", p.FloatingIP.String(), fip.IP.String())
	return o.nbctlBatch(ctx, c)
}

// GatewayPorts are the Port_Bindings that gateway01 claims in this lab's
// shape: the gateway router's (l3gateway) or dr-ext's chassisredirect.
func (o *OVN) GatewayPorts() []string {
	if o.opts.DistributedGateway {
		return []string{"cr-" + DistributedGatewayPort}
	}
	return []string{"gr-join", "gr-ext"}
}

// nbctlBatch runs ovn-nbctl commands c in one transaction and waits for SB.
func (o *OVN) nbctlBatch(ctx context.Context, c [][]string) error {
	args := []string{"--wait=sb"}
	for _, cmd := range c {
		args = append(args, "--")
		args = append(args, cmd...)
	}
	_, err := o.NBCtl(ctx, args...)
	return err
}

// BindVM plugs vm's OVS interface into chassis' br-int with its iface-id,
// as a hypervisor's VIF plugging does; ovn-controller there claims it.
func (o *OVN) BindVM(ctx context.Context, vmRole, chassis string) error {
	vm, ok := o.Plan.VM(vmRole)
	if !ok {
		return fmt.Errorf("lab: no VM %q", vmRole)
	}
	if err := o.nsRun(ctx, chassis, "ovs-vsctl", "--timeout=10", "add-port", "br-int", vm.HVPort,
		"--", "set", "interface", vm.HVPort, "external_ids:iface-id="+vm.LSP); err != nil {
		return err
	}
	o.mu.Lock()
	o.vmAt[vmRole] = chassis
	o.mu.Unlock()
	return nil
}

// MoveVM moves vm to chassis to as a live migration's unbind/bind does:
// its OVS interface leaves the old br-int, its veth end moves to the new
// hypervisor's namespace and is plugged there with the same iface-id. It
// returns when the SB port binding names the new chassis.
func (o *OVN) MoveVM(ctx context.Context, vmRole, to string) error {
	if err := o.MoveVMNoWait(ctx, vmRole, to); err != nil {
		return err
	}
	vm, _ := o.Plan.VM(vmRole)
	return o.WaitPortChassis(ctx, vm.LSP, to, 20*time.Second)
}

// MoveVMNoWait is MoveVM without waiting for the SB port binding (which
// cannot change while SB is down).
func (o *OVN) MoveVMNoWait(ctx context.Context, vmRole, to string) error {
	vm, ok := o.Plan.VM(vmRole)
	if !ok {
		return fmt.Errorf("lab: no VM %q", vmRole)
	}
	o.mu.Lock()
	from := o.vmAt[vmRole]
	o.mu.Unlock()
	if from == to {
		return nil
	}
	if err := o.nsRun(ctx, from, "ovs-vsctl", "--timeout=10", "del-port", "br-int", vm.HVPort); err != nil {
		return err
	}
	if err := o.run(ctx, fmt.Sprintf("link set %s netns %s\n", vm.HVPort, o.NS(to)), "ip", "-n", o.NS(from), "-batch", "-"); err != nil {
		return err
	}
	if err := o.run(ctx, fmt.Sprintf("link set %s up\n", vm.HVPort), "ip", "-n", o.NS(to), "-batch", "-"); err != nil {
		return err
	}
	if err := o.offloadsOff(ctx, to, vm.HVPort); err != nil {
		return err
	}
	return o.BindVM(ctx, vmRole, to)
}

// VMChassis is the chassis vm is plugged into now.
func (o *OVN) VMChassis(vmRole string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.vmAt[vmRole]
}

// PortChassis returns the chassis name in lsp's SB Port_Binding ("" if
// unbound).
func (o *OVN) PortChassis(ctx context.Context, lsp string) (string, error) {
	uuid, err := o.quiet(ctx, "ovn", "ovn-sbctl", "--timeout=20", "--data=bare", "--no-headings", "--columns=chassis", "find", "port_binding", "logical_port="+lsp)
	if err != nil || uuid == "" {
		return "", err
	}
	return o.quiet(ctx, "ovn", "ovn-sbctl", "--timeout=20", "--data=bare", "--no-headings", "--columns=name", "list", "chassis", uuid)
}

// WaitPortChassis waits until lsp's Port_Binding is bound to chassis.
func (o *OVN) WaitPortChassis(ctx context.Context, lsp, chassis string, d time.Duration) error {
	deadline := time.Now().Add(d)
	var last string
	var lastErr error
	for {
		last, lastErr = o.PortChassis(ctx, lsp)
		if lastErr == nil && last == chassis {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("lab: port %s not bound to %s within %v (bound to %q, err %v)", lsp, chassis, d, last, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StopSB stops the SB ovsdb-server (SIGTERM, waits until it is gone); its
// database file stays for StartSB.
func (o *OVN) StopSB(ctx context.Context) error {
	pidFile := filepath.Join(o.addrs.WorkDir, "ovn", "sb.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return err
	}
	var pid int
	if _, err := fmt.Sscanf(string(b), "%d", &pid); err != nil {
		return fmt.Errorf("lab: %s: %w", pidFile, err)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(2 * time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// StartSB starts the SB ovsdb-server again on the same database file.
func (o *OVN) StartSB(ctx context.Context) error {
	return o.nsRun(ctx, "ovn", o.sbArgs...)
}

// ovnState is what UpOVN leaves next to lab.json, for AttachOVN.
type ovnState struct {
	Plan OVNAddrs   `json:"plan"`
	Opts OVNOptions `json:"opts"`
}

func (o *OVN) writeOVNState() error {
	b, err := json.MarshalIndent(ovnState{Plan: o.Plan, Opts: o.opts}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.addrs.WorkDir, "ovn.json"), b, 0o644)
}

// AttachOVN returns a handle on an OVN lab that another process brought up
// (`xgw-lab ovn-up`), from its state files in workDir ("" for the default).
func AttachOVN(name, workDir string) (*OVN, error) {
	l, err := Attach(name, workDir)
	if err != nil {
		return nil, err
	}
	return attachOVN(l)
}

func attachOVN(l *Lab) (*OVN, error) {
	b, err := os.ReadFile(filepath.Join(l.addrs.WorkDir, "ovn.json"))
	if err != nil {
		return nil, err
	}
	var st ovnState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	st.Opts.Log = nil
	o := &OVN{Lab: l, Plan: st.Plan, opts: st.Opts, vmAt: map[string]string{}}
	for _, vm := range st.Plan.VMs {
		o.vmAt[vm.Role] = vm.Chassis
	}
	l.roleEnv = o.env
	return o, nil
}
