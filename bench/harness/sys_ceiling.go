package harness

import (
	"io"

	"github.com/xgw-dev/xgw/bench/xdpload"
)

// ceilingSystem is not a gateway: an XDP program on each gateway veth
// redirects every frame, untouched, to the other one (devmap). No decap, no
// NAT, no lookup: the most any XDP-based gateway can forward over these
// veths on this machine, the yardstick for the others. Frames keep their
// Geneve header, so its Gbit/s counts 58 more bytes per packet.
type ceilingSystem struct {
	env   *Env
	progs []*xdpload.Ceiling
	links []io.Closer
}

func (c *ceilingSystem) Name() string   { return "xdp-ceiling" }
func (c *ceilingSystem) Geneve() bool   { return true }
func (c *ceilingSystem) PIDs() []int    { return nil }
func (c *ceilingSystem) Sample() Sample { return unknownSample() }

func (c *ceilingSystem) Supports(sc string) (bool, string) {
	if sc == "udp-oneway" || sc == "udp-rr" || sc == "fastpath" {
		return true, ""
	}
	return false, "a blind redirect neither decapsulates nor NATs: sockets cannot connect through it"
}

func (c *ceilingSystem) Notes() []string {
	return []string{"bpf_redirect_map gw-u <-> gw-x, frames untouched (Geneve stays on): the XDP ceiling of these veths"}
}

func (c *ceilingSystem) Start(e *Env) error {
	c.env = e
	for _, dir := range [][2]string{{e.A.Underlay, e.A.External}, {e.A.External, e.A.Underlay}} {
		to, err := e.Ifindex(RoleGW, dir[1])
		if err != nil {
			c.Stop()
			return err
		}
		// A devmap resolves the ifindex in the netns of the thread that
		// writes the entry: create it inside ns gw.
		var p *xdpload.Ceiling
		err = e.Do(RoleGW, func() (err error) { p, err = xdpload.NewCeiling(to); return })
		if err != nil {
			c.Stop()
			return err
		}
		c.progs = append(c.progs, p)
		l, err := e.AttachXDP(RoleGW, dir[0], p.Prog)
		if err != nil {
			c.Stop()
			return err
		}
		c.links = append(c.links, l)
	}
	return nil
}

func (c *ceilingSystem) Stop() error {
	for _, l := range c.links {
		l.Close()
	}
	for _, p := range c.progs {
		p.Close()
	}
	c.links, c.progs = nil, nil
	return nil
}
