package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// linuxSystem is the kernel itself as the gateway: ip_forward and an
// nftables SNAT of the VM prefix to the SNAT address. This kernel has no
// Geneve (CONFIG_GENEVE off), so it gets plain IPv4 from the chassis side:
// the generator sends plain UDP, and socket clients run in ns hv from the
// VM's address on br-phy instead of inside the VM behind OVS's tunnel.
type linuxSystem struct {
	opts   SystemOptions
	env    *Env
	detach func()
	undo   [][2]any // role, argv to run on Stop
}

const nftTable = "xgwbench"

func (s *linuxSystem) Name() string                   { return "linux" }
func (s *linuxSystem) Geneve() bool                   { return false }
func (s *linuxSystem) Supports(string) (bool, string) { return true, "" }
func (s *linuxSystem) PIDs() []int                    { return nil }

func (s *linuxSystem) Notes() []string {
	return []string{"no Geneve: this kernel has no CONFIG_GENEVE, so it forwards plain IPv4 (no decap/encap work) and its TCP/iperf3 clients run in ns hv over br-phy, not in the VM through OVS's tunnel",
		"nftables snat in postrouting + ip_forward; its work is all softirq (no gateway process)"}
}

func (s *linuxSystem) Start(e *Env) error {
	s.env = e
	a := e.A
	nft := fmt.Sprintf(`table ip %s {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %s oifname "%s" snat to %s
	}
}
`, nftTable, a.VMPrefix, a.External, a.SNATIP)
	f := e.WorkDir + "/linux.nft"
	if err := os.WriteFile(f, []byte(nft), 0o644); err != nil {
		return err
	}
	steps := []struct {
		role     string
		do, undo []string
	}{
		{RoleGW, []string{"sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"},
			[]string{"sysctl", "-qw", "net.ipv4.ip_forward=0"}},
		{RoleGW, []string{"nft", "-f", f}, []string{"nft", "delete", "table", "ip", nftTable}},
		{RoleGW, []string{"ip", "route", "replace", a.VMPrefix.String(), "via", a.ChassisIP.String(), "dev", a.Underlay},
			[]string{"ip", "route", "del", a.VMPrefix.String()}},
	}
	if e.Lab != nil {
		// The "VM" for socket clients: its address on br-phy in ns hv.
		steps = append(steps,
			struct {
				role     string
				do, undo []string
			}{RoleGen, []string{"ip", "addr", "add", a.VMIP.String() + "/32", "dev", "br-phy"},
				[]string{"ip", "addr", "del", a.VMIP.String() + "/32", "dev", "br-phy"}},
			struct {
				role     string
				do, undo []string
			}{RoleGen, []string{"ip", "route", "replace", a.ExtIP.String() + "/32", "via", a.VTEP.String(), "dev", "br-phy", "src", a.VMIP.String()},
				[]string{"ip", "route", "del", a.ExtIP.String() + "/32"}},
		)
	}
	for _, st := range steps {
		if _, err := e.Run(st.role, st.do...); err != nil {
			s.Stop()
			return err
		}
		s.undo = append(s.undo, [2]any{st.role, st.undo})
	}
	// XDP_PASS on both gateway veths: a veth accepts the generator's and
	// the reflector's XDP_TX frames only if its end runs an XDP program.
	// (On gw-u GRO on would do too; the effect on the Linux peer's
	// receive path is the same veth NAPI either way.)
	undo, err := attachPass(e, RoleGW, a.Underlay, a.External)
	if err != nil {
		s.Stop()
		return err
	}
	s.detach = undo
	return nil
}

func (s *linuxSystem) Stop() error {
	if s.detach != nil {
		s.detach()
		s.detach = nil
	}
	var first error
	for i := len(s.undo) - 1; i >= 0; i-- {
		if _, err := s.env.Run(s.undo[i][0].(string), s.undo[i][1].([]string)...); err != nil && first == nil {
			first = err
		}
	}
	s.undo = nil
	// The namespace's conntrack table outlives the nft table: flush it so
	// that the next scenario's "table entries" start from zero.
	s.env.Run(RoleGW, "conntrack", "-F")
	return first
}

// Sample reads the namespace's conntrack count (per network namespace).
func (s *linuxSystem) Sample() Sample {
	out := unknownSample()
	b, err := s.env.Run(RoleGW, "cat", "/proc/sys/net/netfilter/nf_conntrack_count")
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(b), 64); err == nil {
			out.TableEntries = v
		}
	}
	// Where the kernel drops: SNMP counters and conntrack's per-CPU stats.
	out.Raw = map[string]any{}
	if st, err := s.env.Run(RoleGW, "nstat", "-asz"); err == nil {
		out.Raw["nstat"] = parseNstat(st)
	}
	if st, err := s.env.Run(RoleGW, "conntrack", "-S"); err == nil {
		out.Raw["conntrack_stats"] = st
	}
	return out
}

// parseNstat keeps the non-zero counters of `nstat -asz`.
func parseNstat(out string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil && v != 0 {
				m[f[0]] = v
			}
		}
	}
	return m
}
