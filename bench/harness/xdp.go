package harness

import (
	"io"

	"github.com/cilium/ebpf"

	"github.com/xgw-dev/xgw/bench/xdpload"
)

// attachPass attaches a one-line XDP_PASS to each interface: a veth takes
// frames that its peer XDP_TXes or redirects only when it runs an XDP
// program itself. The returned function detaches and frees everything.
func attachPass(e *Env, role string, ifaces ...string) (func(), error) {
	p, err := xdpload.NewPass()
	if err != nil {
		return nil, err
	}
	var links []io.Closer
	undo := func() {
		for _, l := range links {
			l.Close()
		}
		p.Close()
	}
	for _, ifc := range ifaces {
		l, err := e.AttachXDP(role, ifc, p)
		if err != nil {
			undo()
			return nil, err
		}
		links = append(links, l)
	}
	return undo, nil
}

// attachOne attaches prog to one interface and returns the detach function.
func attachOne(e *Env, role, iface string, prog *ebpf.Program) (func(), error) {
	l, err := e.AttachXDP(role, iface, prog)
	if err != nil {
		return nil, err
	}
	return func() { l.Close() }, nil
}
