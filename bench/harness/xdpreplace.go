package harness

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/xgw-dev/xgw/bench/lab"
	"golang.org/x/sys/unix"
)

// netlinkXDP is a program attached through netlink in place of another
// netlink-attached one; Close reattaches the previous program (or detaches
// when there was none).
type netlinkXDP struct {
	ns, iface string
	prev      *ebpf.Program // nil: nothing was attached before
}

// replaceXDP must run inside the namespace of iface (Env.Do).
func replaceXDP(ns, iface string, prog *ebpf.Program) (*netlinkXDP, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, err
	}
	r := &netlinkXDP{ns: ns, iface: iface}
	if x := l.Attrs().Xdp; x != nil && x.Attached && x.ProgId != 0 {
		// Hold a reference so the old program outlives its detach.
		if r.prev, err = ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId)); err != nil {
			return nil, fmt.Errorf("previous XDP program %d on %s: %w", x.ProgId, iface, err)
		}
	}
	if err := netlink.LinkSetXdpFdWithFlags(l, prog.FD(), unix.XDP_FLAGS_DRV_MODE); err != nil {
		r.prev.Close()
		return nil, err
	}
	return r, nil
}

func (r *netlinkXDP) Close() error {
	return lab.DoIn(r.ns, func() error {
		defer r.prev.Close()
		l, err := netlink.LinkByName(r.iface)
		if err != nil {
			return err
		}
		fd := -1
		if r.prev != nil {
			fd = r.prev.FD()
		}
		return netlink.LinkSetXdpFdWithFlags(l, fd, unix.XDP_FLAGS_DRV_MODE)
	})
}
