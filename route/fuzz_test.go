package route

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/packet"
)

// FuzzBuild holds validation to its promise: any file that config.Parse
// accepts builds, and every lookup on what it built is safe.
func FuzzBuild(f *testing.F) {
	for _, name := range []string{"seed.yaml", "two-tenants.yaml", "lab.yaml", "distributed-gateway.yaml", "dual-stack.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "examples", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(lpmConfig))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data)
		if err != nil {
			return
		}
		topo, err := Build(c)
		if err != nil {
			t.Fatalf("Build of a valid config: %v", err)
		}
		for _, r := range topo.Routers {
			for _, e := range r.Routes() {
				hop, ok := r.Route(packet.IP4(e.Prefix.Addr().As4()))
				if !ok || hop.Port == nil {
					t.Fatalf("%s: no route to %s, its own table entry", r.Name, e.Prefix)
				}
				topo.PeerRouter(hop)
			}
			for _, e := range r.Routes6() {
				hop, ok := r.Route6(e.Prefix.Addr().As16())
				if !ok || hop.Port == nil {
					t.Fatalf("%s: no route to %s, its own table entry", r.Name, e.Prefix)
				}
				topo.PeerRouter6(hop)
				topo.InboundRouter6(e.Prefix.Addr().As16())
				r.SNAT6(e.Prefix.Addr().As16())
			}
			if !r.Distributed && r.External == nil {
				t.Fatalf("gateway router %s without external port", r.Name)
			}
			if r.Key != 0 {
				if rp, ok := topo.RedirectPort(r.Key); !ok || rp != r.External || rp.RedirectKey == 0 {
					t.Fatalf("RedirectPort(%d) = %v, want %s's external port with its redirect key", r.Key, rp, r.Name)
				}
			}
		}
		for _, sw := range topo.Switches {
			for _, rp := range sw.RouterPorts {
				if got, ok := topo.RouterPortByIP(sw, rp.IP); rp.Prefix.IsValid() && (!ok || got != rp) {
					t.Fatalf("RouterPortByIP(%s, %s) = %v", sw.Name, rp.IP, got)
				}
				if got, ok := topo.RouterPortByIP6(sw, rp.IP6); rp.Prefix6.IsValid() && (!ok || got != rp) {
					t.Fatalf("RouterPortByIP6(%s, %x) = %v", sw.Name, rp.IP6, got)
				}
				got, ok := topo.JoinPort(sw.Key, rp.MAC)
				switch {
				case rp.Router.Distributed:
				case rp.Router.Key != 0: // a distributed gateway port's router: reached by redirect only
					if ok && got.Router == rp.Router {
						t.Fatalf("JoinPort(%d, %s) = %v: a redirect-only router's port", sw.Key, rp.MAC, got)
					}
				case !ok || got != rp:
					t.Fatalf("JoinPort(%d, %s) = %v", sw.Key, rp.MAC, got)
				}
			}
			for _, lp := range sw.LogicalPorts {
				if got, ok := topo.LogicalPort(sw, lp.IP); !lp.IP.IsZero() && (!ok || got != lp) {
					t.Fatalf("LogicalPort(%s, %s) = %v", sw.Name, lp.IP, got)
				}
				if got, ok := topo.LogicalPort6(sw, lp.IP6); lp.IP6 != (IP6{}) && (!ok || got != lp) {
					t.Fatalf("LogicalPort6(%s, %x) = %v", sw.Name, lp.IP6, got)
				}
				if lp.IP.IsZero() && lp.IP6 == (IP6{}) {
					t.Fatalf("VM %s has no address", lp.Name)
				}
			}
		}
		for _, a := range topo.ExternalIPs() {
			if _, ok := topo.RouterByExternalIP(a); !ok || a.IsZero() {
				t.Fatalf("external IP %s has no router", a)
			}
		}
		for _, a := range topo.ExternalIPs6() {
			if _, ok := topo.RouterByExternalIP6(a); !ok || a == (IP6{}) {
				t.Fatalf("external IP %x has no router", a)
			}
		}
	})
}
