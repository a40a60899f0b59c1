package ovn

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/route"
)

// seedCommands build the seed's shape (examples/lab.yaml) with ovn-nbctl:
// a tenant switch with one VM behind a distributed router, a join switch,
// and a gateway router bound to gateway01 with SNAT of the tenant subnet
// and a default route out of its port on the external switch (whose
// localnet port is physnet1).
var seedCommands = [][]string{
	{"ls-add", "sw1"},
	{"lsp-add", "sw1", "vm1", "--", "lsp-set-addresses", "vm1", "00:00:19:91:00:10 10.199.100.10"},
	{"lr-add", "dr"},
	{"lrp-add", "dr", "dr-sw1", "ae:95:95:65:27:a6", "10.199.100.1/24"},
	{"lsp-add", "sw1", "sw1-dr", "--", "lsp-set-type", "sw1-dr", "router", "--", "lsp-set-addresses", "sw1-dr", "router", "--", "lsp-set-options", "sw1-dr", "router-port=dr-sw1"},
	{"ls-add", "join"},
	{"lrp-add", "dr", "dr-join", "ae:03:03:17:eb:df", "172.16.255.2/24"},
	{"lsp-add", "join", "join-dr", "--", "lsp-set-type", "join-dr", "router", "--", "lsp-set-addresses", "join-dr", "router", "--", "lsp-set-options", "join-dr", "router-port=dr-join"},
	{"lr-add", "gr1", "--", "set", "logical_router", "gr1", "options:chassis=gateway01"},
	{"lrp-add", "gr1", "gr1-join", "ae:cd:cd:04:d7:d4", "172.16.255.3/24"},
	{"lsp-add", "join", "join-gr1", "--", "lsp-set-type", "join-gr1", "router", "--", "lsp-set-addresses", "join-gr1", "router", "--", "lsp-set-options", "join-gr1", "router-port=gr1-join"},
	{"lrp-add", "gr1", "gr1-ext", "ae:a9:a9:0c:6f:c8", "198.51.100.1/24"},
	{"ls-add", "ext"},
	{"lsp-add", "ext", "ext-gr1", "--", "lsp-set-type", "ext-gr1", "router", "--", "lsp-set-addresses", "ext-gr1", "router", "--", "lsp-set-options", "ext-gr1", "router-port=gr1-ext"},
	{"lsp-add", "ext", "ext-localnet", "--", "lsp-set-type", "ext-localnet", "localnet", "--", "lsp-set-addresses", "ext-localnet", "unknown", "--", "lsp-set-options", "ext-localnet", "network_name=physnet1"},
	{"lr-route-add", "gr1", "10.199.100.0/24", "172.16.255.2"},
	{"lr-route-add", "gr1", "0.0.0.0/0", "198.51.100.2"},
	{"lr-route-add", "dr", "0.0.0.0/0", "172.16.255.3"},
	{"lr-nat-add", "gr1", "snat", "203.0.113.10", "10.199.100.0/24"},
}

// seed creates the seed's shape, a hypervisor chassis hv1 (192.0.2.2) and
// binds vm1 there, as ovn-controller on hv1 would.
func (e *ovnEnv) seed() {
	e.t.Helper()
	for _, c := range seedCommands {
		e.nbctl(c...)
	}
	e.sbctl("chassis-add", "hv1", "geneve", "192.0.2.2")
	e.sync()
	e.sbctl("lsp-bind", "vm1", "hv1")
}

// key reads a tunnel key from the SB database.
func (e *ovnEnv) key(table, match string) int {
	e.t.Helper()
	v := e.sbctl("--bare", "--columns=tunnel_key", "find", table, match)
	n, err := strconv.Atoi(v)
	if err != nil {
		e.t.Fatalf("tunnel_key of %s %s: %q", table, match, v)
	}
	return n
}

func findRouter(c *config.Config, name string) *config.Router {
	for i := range c.Routers {
		if c.Routers[i].Name == name {
			return &c.Routers[i]
		}
	}
	return nil
}

func findSwitch(c *config.Config, name string) *config.Switch {
	for i := range c.Switches {
		if c.Switches[i].Name == name {
			return &c.Switches[i]
		}
	}
	return nil
}

// TestSeedTopology: the seed's shape made with ovn-nbctl translates into
// the topology examples/lab.yaml describes by hand (same routers, ports,
// MACs, addresses, routes, NAT; keys as the SB database assigned them),
// and the gateway router's l3gateway bindings are claimed.
func TestSeedTopology(t *testing.T) {
	e := newOVNEnv(t)
	e.seed()
	ctl, first, _ := startController(t, e.gwConfig(t, "gateway01"))

	lab, err := config.Load("../examples/lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dr", "gr1"} {
		want, got := findRouter(lab, name), findRouter(first, name)
		if got == nil {
			t.Fatalf("router %s not translated; routers: %+v", name, first.Routers)
		}
		if !slicesEqualSorted(got.Ports, want.Ports, func(p config.RouterPort) string { return fmt.Sprint(p) }) {
			t.Errorf("router %s ports:\n got %+v\nwant %+v", name, got.Ports, want.Ports)
		}
		if !slicesEqualSorted(got.Routes, want.Routes, func(r config.Route) string { return fmt.Sprint(r) }) && name == "gr1" {
			t.Errorf("router %s routes:\n got %+v\nwant %+v", name, got.Routes, want.Routes)
		}
		if fmt.Sprint(got.NAT) != fmt.Sprint(want.NAT) {
			t.Errorf("router %s NAT:\n got %+v\nwant %+v", name, got.NAT, want.NAT)
		}
		if got.Distributed != want.Distributed {
			t.Errorf("router %s distributed %v, want %v", name, got.Distributed, want.Distributed)
		}
	}
	gr := findRouter(first, "gr1")
	if gr.Zones.DNAT == 0 || gr.Zones.SNAT == 0 || gr.Zones.DNAT == gr.Zones.SNAT {
		t.Errorf("gr1 zones %+v: want two distinct non-zero zones", gr.Zones)
	}
	join, sw1 := findSwitch(first, "join"), findSwitch(first, "sw1")
	if join == nil || sw1 == nil || findSwitch(first, "ext") != nil {
		t.Fatalf("switches: %+v (want join and sw1; ext is the physical side)", first.Switches)
	}
	if int(join.Key) != e.key("Datapath_Binding", "external_ids:name=join") || int(sw1.Key) != e.key("Datapath_Binding", "external_ids:name=sw1") {
		t.Errorf("switch keys join %d sw1 %d differ from the SB's", join.Key, sw1.Key)
	}
	wantPorts := map[string]string{
		"join-dr":  fmt.Sprintf("{join-dr %d dr-join   }", e.key("Port_Binding", "logical_port=join-dr")),
		"join-gr1": fmt.Sprintf("{join-gr1 %d gr1-join   }", e.key("Port_Binding", "logical_port=join-gr1")),
		"sw1-dr":   fmt.Sprintf("{sw1-dr %d dr-sw1   }", e.key("Port_Binding", "logical_port=sw1-dr")),
		"vm1":      fmt.Sprintf("{vm1 %d  00:00:19:91:00:10 10.199.100.10 hv1}", e.key("Port_Binding", "logical_port=vm1")),
	}
	for _, sw := range []*config.Switch{join, sw1} {
		for _, p := range sw.Ports {
			if w := wantPorts[p.Name]; fmt.Sprint(p) != w {
				t.Errorf("switch %s port %s = %v, want %s", sw.Name, p.Name, p, w)
			}
			delete(wantPorts, p.Name)
		}
	}
	if len(wantPorts) > 0 {
		t.Errorf("ports missing: %v", wantPorts)
	}
	if fmt.Sprint(first.Chassis) != "[{hv1 192.0.2.2}]" {
		t.Errorf("chassis %v, want hv1 at 192.0.2.2", first.Chassis)
	}
	if _, err := route.Build(first); err != nil {
		t.Fatalf("the translation does not build: %v", err)
	}
	// A reload (SIGHUP) re-reads the file and keeps the databases'
	// topology; a changed non-topology section comes through.
	file := e.gwConfig(t, "gateway01")
	file.Geneve.TTL = 33
	re, err := ctl.Compose(file)
	if err != nil {
		t.Fatal(err)
	}
	if re.OVN != nil || findRouter(re, "gr1") == nil || re.Geneve.TTL != 33 {
		t.Fatalf("reload config: ovn %v, gr1 %v, ttl %d", re.OVN, findRouter(re, "gr1") != nil, re.Geneve.TTL)
	}

	// Claimed: the l3gateway bindings of gr1 (its two ports and their
	// peers), chassis = us and up = true.
	me := e.sbctl("--bare", "--columns=_uuid", "find", "Chassis", "name=gateway01")
	waitFor(t, 5*time.Second, "gr1's l3gateway ports claimed", func() (bool, string) {
		got := e.sbctl("--bare", "--columns=logical_port", "find", "Port_Binding", "chassis="+me, "type=l3gateway")
		ports := strings.Fields(got)
		slices.Sort(ports)
		return strings.Join(ports, " ") == "ext-gr1 gr1-ext gr1-join join-gr1", got
	})
	if up := e.sbctl("--bare", "--columns=up", "find", "Port_Binding", "logical_port=gr1-join"); up != "true" {
		t.Errorf("gr1-join up = %q, want true", up)
	}

	// xgw show: the chassis, its claims, peers, routers, NAT, switches.
	waitFor(t, 3*time.Second, "xgw show with the claims", func() (bool, string) {
		var b strings.Builder
		if err := ctl.Status().WriteShow(&b); err != nil {
			return false, err.Error()
		}
		out := b.String()
		for _, want := range []string{`Chassis "gateway01"`, "NB: connected", `Port_Binding "gr1-join"`, `Peer chassis "hv1"`,
			`router "gr1" (gateway`, "nat snat", `external ip: "203.0.113.10"`, `router "dr" (distributed`, `switch "sw1"`, `chassis: "hv1"`} {
			if !strings.Contains(out, want) {
				return false, "lacks " + want + ":\n" + out
			}
		}
		return true, ""
	})
}

func slicesEqualSorted[T any](a, b []T, key func(T) string) bool {
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i, x := range a {
		ka[i] = key(x)
	}
	for i, x := range b {
		kb[i] = key(x)
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}
