package lab

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// xdpPassPeers attaches a one-instruction XDP_PASS program to the far
// ends of the gateway's veths (hv-u in ns hv, ext0 in ns ext). A veth
// accepts frames that an XDP program redirects into it (the fast path's
// devmap redirect from gw-u to gw-x and back) only when its peer runs an
// XDP program or has GRO on, and GRO is off in the lab. Attached through
// netlink, not a bpf_link, so it stays after the process that built the
// lab exits (xgw-lab up) and goes with the namespace.
func (l *Lab) xdpPassPeers() error {
	return l.xdpPass([]struct{ role, iface string }{{"hv", HVUnderlayIface}, {"ext", ExtIface}})
}

// xdpPass attaches the XDP_PASS program to each (role, iface).
func (l *Lab) xdpPass(ifaces []struct{ role, iface string }) error {
	spec := &ebpf.ProgramSpec{
		Name: "xgwlab_pass", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */), asm.Return()},
	}
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return fmt.Errorf("lab: load xdp_pass: %w", err)
	}
	defer prog.Close()
	for _, p := range ifaces {
		err := l.Do(p.role, func() error {
			link, err := netlink.LinkByName(p.iface)
			if err != nil {
				return err
			}
			return netlink.LinkSetXdpFdWithFlags(link, prog.FD(), unix.XDP_FLAGS_DRV_MODE)
		})
		if err != nil {
			return fmt.Errorf("lab: attach xdp_pass to %s in ns %s: %w", p.iface, p.role, err)
		}
	}
	return nil
}
