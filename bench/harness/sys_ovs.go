package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
)

// ovsSystem is OVS 3.1's userspace datapath set up as the seed's gateway,
// in ns gw with its own rundir: br-ul owns the underlay port and the VTEP
// address (userspace tunnels need it on a bridge's internal port), br-int
// holds the Geneve port and the external port, and OpenFlow does what
// ovn-controller programs on a gateway chassis: decap → eth rewrite,
// dec_ttl → ct(zone=6,nat) → ct(commit,zone=16,nat(src=SNAT)) → out; and
// back: ct(zone=16,nat) → rewrite, dec_ttl → ct(zone=6,nat) → tunnel.
//
// Ports are type=afxdp (AF_XDP, copy mode on veth, PMD-polled). If OVS
// refuses them it falls back to its default AF_PACKET netdev ports and says
// so in the results.
type ovsSystem struct {
	opts    SystemOptions
	env     *Env
	dir     string
	portTyp string
	notes   []string
	started bool
	xdpPass []func()
}

func (o *ovsSystem) Name() string                   { return "ovs-afxdp" }
func (o *ovsSystem) Geneve() bool                   { return true }
func (o *ovsSystem) Supports(string) (bool, string) { return true, "" }
func (o *ovsSystem) Notes() []string                { return o.notes }

func (o *ovsSystem) ovsEnv() []string {
	return []string{"OVS_RUNDIR=" + o.dir + "/run", "OVS_DBDIR=" + o.dir + "/db", "OVS_LOGDIR=" + o.dir + "/log",
		"OVS_SYSCONFDIR=" + o.dir + "/etc", "OVS_PKGDATADIR=/usr/share/openvswitch"}
}

func (o *ovsSystem) run(args ...string) (string, error) {
	cmd := o.env.Cmd(RoleGW, args...)
	cmd.Env = append(os.Environ(), o.ovsEnv()...)
	out, err := cmd.CombinedOutput()
	o.env.logf("gw ovs: %s", strings.Join(args, " "))
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (o *ovsSystem) Start(e *Env) error {
	o.env = e
	o.notes = nil
	// Short: OVS puts unix sockets here (108-byte limit).
	o.dir = filepath.Join(e.WorkDir, "og")
	for _, sub := range []string{"run", "db", "log", "etc"} {
		if err := os.MkdirAll(filepath.Join(o.dir, sub), 0o755); err != nil {
			return err
		}
	}
	if err := o.start(); err != nil {
		o.Stop()
		return err
	}
	return nil
}

func (o *ovsSystem) start() error {
	a := o.env.A
	db := filepath.Join(o.dir, "db", "conf.db")
	os.Remove(db)
	sock := "unix:" + filepath.Join(o.dir, "run", "db.sock")
	if _, err := o.run("ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return err
	}
	if _, err := o.run("ovsdb-server", db, "--remote=p"+sock, "--pidfile", "--detach", "--no-chdir", "--log-file", "-vconsole:off"); err != nil {
		return err
	}
	o.started = true
	vswitchd := tasksetArgs(o.opts.GatewayCPU, "ovs-vswitchd", sock, "--pidfile", "--detach", "--no-chdir",
		"--log-file", "-vconsole:off", "--disable-system", "--disable-system-route")
	if _, err := o.run(vswitchd...); err != nil {
		return err
	}
	// The kernel must not answer for the addresses OVS now owns.
	for _, ifc := range []string{a.Underlay, a.External} {
		if _, err := o.run("ip", "addr", "flush", "dev", ifc); err != nil {
			return err
		}
	}
	pmdMask := "0x1"
	if o.opts.GatewayCPU >= 0 {
		pmdMask = fmt.Sprintf("%#x", 1<<o.opts.GatewayCPU)
	}
	o.portTyp = "afxdp"
	if err := o.bridges(pmdMask); err != nil {
		return err
	}
	if bad := o.portErrors(); bad != "" {
		o.notes = append(o.notes, "AF_XDP ports failed ("+bad+"); FELL BACK to AF_PACKET netdev ports")
		o.portTyp = ""
		for _, p := range []string{a.Underlay, a.External} {
			if _, err := o.run("ovs-vsctl", "--timeout=10", "set", "interface", p, "type=system"); err != nil {
				return err
			}
		}
		if bad := o.portErrors(); bad != "" {
			return fmt.Errorf("ovs: ports failed in AF_PACKET mode too: %s", bad)
		}
		// AF_PACKET ports have no XDP program: the veths need one to take
		// the generator's XDP_TX frames.
		if err := o.attachPass(); err != nil {
			return err
		}
	} else {
		o.notes = append(o.notes, "ports type=afxdp (AF_XDP copy mode on veth), PMD thread on mask "+pmdMask+" busy-polls: it shows as ~1 core even when idle")
	}
	if _, err := o.run("ip", "addr", "replace", fmt.Sprintf("%s/%d", a.VTEP, a.UnderlayNP.Bits()), "dev", "br-ul"); err != nil {
		return err
	}
	if _, err := o.run("ip", "link", "set", "br-ul", "up"); err != nil {
		return err
	}
	for try := 0; ; try++ {
		_, err := o.run("ovs-appctl", "ovs/route/add", a.UnderlayNP.String(), "br-ul")
		if err == nil {
			break
		}
		if try == 100 {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range [][]string{
		{"ovs-appctl", "tnl/neigh/set", "br-ul", a.ChassisIP.String(), a.GenMAC.String()},
		{"ovs-ofctl", "add-tlv-map", "br-int", "{class=0x102,type=0x80,len=4}->tun_metadata0"},
	} {
		if _, err := o.run(c...); err != nil {
			return err
		}
	}
	if err := o.underlay6(); err != nil {
		return err
	}
	f := filepath.Join(o.dir, "br-int.flows")
	if err := os.WriteFile(f, []byte(o.flows()), 0o644); err != nil {
		return err
	}
	_, err := o.run("ovs-ofctl", "add-flows", "br-int", f)
	return err
}

func (o *ovsSystem) bridges(pmdMask string) error {
	a := o.env.A
	typ := func(p string) []string {
		if o.portTyp == "" {
			return nil
		}
		return []string{"--", "set", "interface", p, "type=" + o.portTyp, "options:xdp-mode=native", "options:n_rxq=1"}
	}
	args := []string{"ovs-vsctl", "--timeout=20", "--", "init",
		"--", "set", "Open_vSwitch", ".", "other_config:pmd-cpu-mask=" + pmdMask,
		"--", "add-br", "br-ul",
		"--", "set", "bridge", "br-ul", "datapath_type=netdev", "other-config:hwaddr=" + a.UnderlayMC.String(),
		"--", "add-port", "br-ul", a.Underlay}
	args = append(args, typ(a.Underlay)...)
	args = append(args, "--", "add-br", "br-int",
		"--", "set", "bridge", "br-int", "datapath_type=netdev", "fail-mode=secure",
		"--", "add-port", "br-int", "gnv0",
		"--", "set", "interface", "gnv0", "type=geneve", "options:remote_ip="+a.ChassisIP.String(),
		"options:key=flow", "options:csum=true", "ofport_request=100")
	if v6 := o.v6(); v6 != nil && v6.Underlay6 {
		// The chassis' IPv6 encap IP: a second tunnel port, as a gateway
		// chassis has one per remote chassis and address family.
		args = append(args, "--", "add-port", "br-int", "gnv6",
			"--", "set", "interface", "gnv6", "type=geneve", "options:remote_ip="+v6.HVUnderlayIP.String(),
			"options:key=flow", "options:csum=true", "ofport_request=101")
	}
	args = append(args,
		"--", "add-port", "br-int", a.External, "--", "set", "interface", a.External, "ofport_request=2")
	args = append(args, typ(a.External)...)
	_, err := o.run(args...)
	return err
}

// portErrors returns the error column of the two physical ports, if any.
func (o *ovsSystem) portErrors() string {
	var bad []string
	for _, p := range []string{o.env.A.Underlay, o.env.A.External} {
		out, err := o.run("ovs-vsctl", "--timeout=10", "get", "interface", p, "error", "ofport")
		if err != nil {
			bad = append(bad, p+": "+err.Error())
			continue
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if lines[0] != "[]" || (len(lines) > 1 && strings.TrimSpace(lines[1]) == "-1") {
			bad = append(bad, p+": "+strings.Join(lines, " "))
		}
	}
	return strings.Join(bad, "; ")
}

// flows is the seed's gateway pipeline (its flow dumps, reduced to one GR).
func (o *ovsSystem) flows() string {
	a := o.env.A
	ext := a.ExternalIP.Addr().As4()
	return fmt.Sprintf(`priority=0,actions=drop
priority=200,in_port=2,arp,arp_op=1,arp_tpa=%[1]s,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:%[2]s,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0x%[3]s->NXM_NX_ARP_SHA[],load:0x%02[4]x%02[5]x%02[6]x%02[7]x->NXM_OF_ARP_SPA[],in_port
priority=100,in_port=100,tun_id=1,tun_metadata0=0x10002,ip,dl_dst=%[8]s,actions=mod_dl_src:%[2]s,mod_dl_dst:%[9]s,dec_ttl,ct(zone=6,nat,table=1)
table=1,priority=100,ip,ct_state=+trk-inv,actions=ct(commit,zone=16,nat(src=%[10]s),table=2)
table=2,priority=100,ip,actions=output:2
priority=100,in_port=2,ip,nw_dst=%[10]s,actions=ct(zone=16,nat,table=3)
table=3,priority=100,ip,ct_state=+trk-inv,nw_dst=%[11]s,actions=mod_dl_src:%[12]s,mod_dl_dst:%[13]s,dec_ttl,ct(zone=6,nat,table=4)
table=4,priority=100,ip,actions=set_field:9->tun_id,set_field:0x10002->tun_metadata0,output:100
`, a.ExternalIP.Addr(), a.ExternalMC, strings.ReplaceAll(a.ExternalMC.String(), ":", ""),
		ext[0], ext[1], ext[2], ext[3], a.GRJoinMAC, a.ExtMAC, a.SNATIP, a.VMPrefix, a.VMGWMAC, a.VMMAC) + o.flows6()
}

// v6 is the dual-stack lab's IPv6 plan, nil in an IPv4 lab or on real NICs.
func (o *ovsSystem) v6() *lab.LabAddrs6 {
	if o.env.Lab == nil {
		return nil
	}
	return o.env.Lab.Config().V6
}

// underlay6 gives br-ul the gateway's IPv6 VTEP address and OVS the route
// and neighbour of the chassis' IPv6 encap IP, when the lab carries Geneve
// over IPv6 too (the IPv6 twin of the IPv4 setup in start).
func (o *ovsSystem) underlay6() error {
	v6 := o.v6()
	if v6 == nil || !v6.Underlay6 {
		return nil
	}
	for _, c := range [][]string{
		{"sysctl", "-q", "-w", "net.ipv6.conf.br-ul.disable_ipv6=0"},
		{"ip", "-6", "addr", "replace", fmt.Sprintf("%s/%d", v6.VTEPIP, v6.UnderlayNet.Bits()), "dev", "br-ul", "nodad"},
		{"ovs-appctl", "ovs/route/add", v6.UnderlayNet.String(), "br-ul"},
		{"ovs-appctl", "tnl/neigh/set", "br-ul", v6.HVUnderlayIP.String(), o.env.A.GenMAC.String()},
	} {
		if _, err := o.run(c...); err != nil {
			return err
		}
	}
	return nil
}

// flows6 is the same pipeline for the dual-stack lab's IPv6 (NAT66 of the
// VM's unique-local prefix; udp-oneway6), empty otherwise; with the IPv6
// underlay the egress rule is repeated for its tunnel port (101; replies
// leave by the IPv4 one, which the one-way scenarios never exercise). The
// gateway's IPv6 neighbours are pinned by the scenario, so no ND flows.
func (o *ovsSystem) flows6() string {
	v6 := o.v6()
	if v6 == nil {
		return ""
	}
	a := o.env.A
	extra := ""
	if v6.Underlay6 {
		extra = fmt.Sprintf("priority=100,in_port=101,tun_id=1,tun_metadata0=0x10002,ipv6,dl_dst=%[1]s,actions=mod_dl_src:%[2]s,mod_dl_dst:%[3]s,dec_ttl,ct(zone=6,nat,table=1)\n",
			a.GRJoinMAC, a.ExternalMC, a.ExtMAC)
	}
	return extra + fmt.Sprintf(`priority=100,in_port=100,tun_id=1,tun_metadata0=0x10002,ipv6,dl_dst=%[1]s,actions=mod_dl_src:%[2]s,mod_dl_dst:%[3]s,dec_ttl,ct(zone=6,nat,table=1)
table=1,priority=100,ipv6,ct_state=+trk-inv,actions=ct(commit,zone=16,nat(src=[%[4]s]),table=2)
table=2,priority=100,ipv6,actions=output:2
priority=100,in_port=2,ipv6,ipv6_dst=%[4]s,actions=ct(zone=16,nat,table=3)
table=3,priority=100,ipv6,ct_state=+trk-inv,ipv6_dst=%[5]s,actions=mod_dl_src:%[6]s,mod_dl_dst:%[7]s,dec_ttl,ct(zone=6,nat,table=4)
table=4,priority=100,ipv6,actions=set_field:9->tun_id,set_field:0x10002->tun_metadata0,output:100
`, a.GRJoinMAC, a.ExternalMC, a.ExtMAC, v6.SNATIP, v6.VMPrefix, a.VMGWMAC, a.VMMAC)
}

func (o *ovsSystem) attachPass() error {
	undo, err := attachPass(o.env, RoleGW, o.env.A.Underlay, o.env.A.External)
	if err != nil {
		return err
	}
	o.xdpPass = append(o.xdpPass, undo)
	return nil
}

func (o *ovsSystem) pids() []int {
	var out []int
	for _, f := range []string{"ovs-vswitchd.pid", "ovsdb-server.pid"} {
		b, err := os.ReadFile(filepath.Join(o.dir, "run", f))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

func (o *ovsSystem) PIDs() []int { return o.pids() }

func (o *ovsSystem) Stop() error {
	for _, f := range o.xdpPass {
		f()
	}
	o.xdpPass = nil
	if !o.started {
		return nil
	}
	o.started = false
	pids := o.pids()
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// The bridges' internal ports are taps that can outlive the daemon.
	for _, br := range []string{"br-ul", "br-int"} {
		o.env.Run(RoleGW, "ip", "link", "del", br)
	}
	// Give the kernel its addresses back for the next system.
	a := o.env.A
	var errs []error
	if _, err := o.env.Run(RoleGW, "ip", "addr", "replace", fmt.Sprintf("%s/%d", a.VTEP, a.UnderlayNP.Bits()), "dev", a.Underlay); err != nil {
		errs = append(errs, err)
	}
	if _, err := o.env.Run(RoleGW, "ip", "addr", "replace", a.ExternalIP.String(), "dev", a.External); err != nil {
		errs = append(errs, err)
	}
	if v6 := o.v6(); v6 != nil {
		// The flush took the IPv6 ones too.
		if _, err := o.env.Run(RoleGW, "ip", "-6", "addr", "replace", v6.GWExternalIP.String(), "dev", a.External, "nodad"); err != nil {
			errs = append(errs, err)
		}
		if v6.Underlay6 {
			if _, err := o.env.Run(RoleGW, "ip", "-6", "addr", "replace", fmt.Sprintf("%s/%d", v6.VTEPIP, v6.UnderlayNet.Bits()), "dev", a.Underlay, "nodad"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, ifc := range []string{a.Underlay, a.External} {
		o.env.Run(RoleGW, "ip", "link", "set", ifc, "up")
	}
	return errors.Join(errs...)
}

// Sample counts conntrack entries of the userspace datapath.
func (o *ovsSystem) Sample() Sample {
	s := unknownSample()
	out, err := o.run("ovs-appctl", "dpctl/ct-stats-show")
	if err != nil {
		return s
	}
	// "Connections Stats:\n    Total: 10000\n ..."
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "Total:" {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				s.TableEntries = v
			}
		}
	}
	return s
}
