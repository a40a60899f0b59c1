// Package harness runs the side-by-side benchmark: it brings up the lab (or
// uses real NICs), runs every system under test on every scenario, measures
// each run from counters and /proc, and hands a report.Run to the renderer.
// cmd/xgw-bench is its command line; bench/README.md documents the figures.
package harness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/xgw-dev/xgw/bench/lab"
	"github.com/xgw-dev/xgw/packet"
)

// Roles of the namespaces the harness acts in. On real NICs they may all
// be the root namespace ("").
const (
	RoleVM  = "vm"  // the VM (iperf3/TCP clients through the real OVS hypervisor)
	RoleGen = "hv"  // the generator's interface (the hypervisor's underlay veth)
	RoleGW  = "gw"  // the gateway under test
	RoleExt = "ext" // sink, reflector, servers
)

// Addrs is what the systems and scenarios need to know about the wiring.
type Addrs struct {
	GenIface   string     // generator transmits here (hv-u)
	GenMAC     packet.MAC // outer source MAC of generated frames (the chassis' underlay MAC)
	ChassisIP  packet.IP4 // outer source IP (192.0.2.2)
	Underlay   string     // gateway's underlay interface (gw-u)
	UnderlayMC packet.MAC
	VTEP       packet.IP4 // gateway's VTEP (192.0.2.1)
	UnderlayNP netip.Prefix
	External   string     // gateway's external interface (gw-x)
	ExternalMC packet.MAC // = the GR's external port MAC
	ExternalIP netip.Prefix
	SinkIface  string // ext0
	ExtIP      packet.IP4
	ExtMAC     packet.MAC
	SNATIP     packet.IP4
	VMIP       packet.IP4
	VMMAC      packet.MAC
	VMPrefix   netip.Prefix
	VMGWMAC    packet.MAC // DR port on sw1 (inner src of replies to the VM)
	DRJoinMAC  packet.MAC // inner eth src of egress Geneve
	GRJoinMAC  packet.MAC // inner eth dst of egress Geneve
}

// Env is where a benchmark runs: namespaces by role, addresses, tools.
type Env struct {
	Lab     *lab.Lab          // nil on real NICs
	NS      map[string]string // role → network namespace name; "" = root
	A       Addrs
	WorkDir string
	XGWBin  string
	Logf    func(format string, args ...any)
}

// LabEnv describes a running lab.
func LabEnv(l *lab.Lab, xgwBin string) *Env {
	c := l.Config()
	mac := func(m net.HardwareAddr) (out packet.MAC) { copy(out[:], m); return }
	ip := func(a netip.Addr) packet.IP4 { v, _ := packet.IP4From(a); return v }
	vm := c.VMs[0]
	return &Env{
		Lab: l,
		NS: map[string]string{RoleVM: l.NS("vm"), RoleGen: l.NS("hv"), RoleGW: l.NS("gw"),
			RoleExt: l.NS("ext")},
		WorkDir: c.WorkDir,
		XGWBin:  xgwBin,
		A: Addrs{
			GenIface: lab.HVUnderlayIface, GenMAC: mac(c.HVUnderlayMAC), ChassisIP: ip(c.HVUnderlayIP),
			Underlay: c.GWUnderlay, UnderlayMC: mac(c.GWUnderlayMAC), VTEP: ip(c.VTEPIP), UnderlayNP: c.UnderlayNet,
			External: c.GWExternal, ExternalMC: mac(c.GWExternalMAC), ExternalIP: c.GWExternalIP,
			SinkIface: c.ExtIface, ExtIP: ip(c.ExtIP), ExtMAC: mac(c.ExtMAC), SNATIP: ip(c.SNATIP),
			VMIP: ip(vm.IP), VMMAC: mac(vm.MAC), VMPrefix: c.VMPrefix, VMGWMAC: mac(c.VMGWMAC),
			DRJoinMAC: mac(c.DRJoinMAC), GRJoinMAC: mac(c.GRJoinMAC),
		},
	}
}

func (e *Env) logf(format string, args ...any) {
	if e.Logf != nil {
		e.Logf(format, args...)
	}
}

// Cmd returns a command that runs inside role's namespace.
func (e *Env) Cmd(role string, args ...string) *exec.Cmd {
	if ns := e.NS[role]; ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	return exec.Command(args[0], args[1:]...)
}

// Run runs a command in role's namespace and returns its combined output,
// with the output in the error when it fails.
func (e *Env) Run(role string, args ...string) (string, error) {
	cmd := e.Cmd(role, args...)
	out, err := cmd.CombinedOutput()
	e.logf("%s: %s", role, strings.Join(args, " "))
	if err != nil {
		return string(out), fmt.Errorf("%s (in %s): %w: %s", strings.Join(args, " "), role, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Script runs several commands in role's namespace, stopping at the first
// failure.
func (e *Env) Script(role string, cmds ...[]string) error {
	for _, c := range cmds {
		if _, err := e.Run(role, c...); err != nil {
			return err
		}
	}
	return nil
}

// Do runs fn on a thread inside role's namespace; sockets fn opens stay in
// that namespace (as lab.Lab.Do, but also for namespaces outside a lab).
func (e *Env) Do(role string, fn func() error) error {
	return lab.DoIn(e.NS[role], fn)
}

// Ifindex resolves iface inside role's namespace.
func (e *Env) Ifindex(role, iface string) (int, error) {
	var idx int
	err := e.Do(role, func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		idx = ifc.Index
		return nil
	})
	return idx, err
}

// AttachXDP attaches prog to iface in role's namespace in native (driver)
// mode; closing the result detaches it. When the interface already runs a
// program attached through netlink (the lab's XDP_PASS on hv-u and ext0,
// which a veth needs to accept redirected frames), a bpf_link cannot be
// created (EBUSY): prog then replaces it through netlink, and Close puts the
// previous program back.
func (e *Env) AttachXDP(role, iface string, prog *ebpf.Program) (io.Closer, error) {
	var c io.Closer
	err := e.Do(role, func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
		if err == nil {
			c = l
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) {
			return err
		}
		c, err = replaceXDP(e.NS[role], iface, prog)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("attach %s to %s/%s: %w", prog, role, iface, err)
	}
	return c, nil
}

// PIDsIn lists// PIDsIn lists the processes in role's namespace (by the inode of their
// /proc/<pid>/ns/net), for CPU accounting. Empty for the root namespace:
// there, everything would match.
func (e *Env) PIDsIn(role string) []int {
	ns := e.NS[role]
	if ns == "" {
		return nil
	}
	var st syscall.Stat_t
	if syscall.Stat("/run/netns/"+ns, &st) != nil {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, ent := range ents {
		var pid int
		if _, err := fmt.Sscanf(ent.Name(), "%d", &pid); err != nil {
			continue
		}
		var ps syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &ps) == nil && ps.Ino == st.Ino && ps.Dev == st.Dev {
			pids = append(pids, pid)
		}
	}
	return pids
}
