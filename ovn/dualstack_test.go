package ovn

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/ovn/sbdb"
	"github.com/xgw-dev/xgw/route"
)

// dualStackCommands build examples/dual-stack.yaml's shape with ovn-nbctl:
// vm1 dual stack behind dr (NAT44 and NAT66 on gr1), vm2 IPv6 only on a
// global prefix routed without NAT, IPv6 routes on gr1 (the IPv6 default
// among them). Beside it: vm3 with two IPv6 addresses (one served), and
// gr2, a gateway router whose external port has two IPv6 networks
// (refused: one network per family per port).
var dualStackCommands = [][]string{
	{"ls-add", "sw1"},
	{"lsp-add", "sw1", "vm1", "--", "lsp-set-addresses", "vm1", "00:00:19:91:00:10 10.199.100.10 fd00:199:100::10"},
	{"lsp-add", "sw1", "vm3", "--", "lsp-set-addresses", "vm3", "00:00:19:91:00:30 fd00:199:100::30 fd00:199:100::31"},
	{"ls-add", "sw2"},
	{"lsp-add", "sw2", "vm2", "--", "lsp-set-addresses", "vm2", "00:00:19:91:00:20 2001:db8:200::20"},
	{"lr-add", "dr"},
	{"lrp-add", "dr", "dr-sw1", "ae:95:95:65:27:a6", "10.199.100.1/24", "fd00:199:100::1/64"},
	{"lsp-add", "sw1", "sw1-dr", "--", "lsp-set-type", "sw1-dr", "router", "--", "lsp-set-addresses", "sw1-dr", "router", "--", "lsp-set-options", "sw1-dr", "router-port=dr-sw1"},
	{"lrp-add", "dr", "dr-sw2", "ae:95:95:65:27:a7", "2001:db8:200::1/64"},
	{"lsp-add", "sw2", "sw2-dr", "--", "lsp-set-type", "sw2-dr", "router", "--", "lsp-set-addresses", "sw2-dr", "router", "--", "lsp-set-options", "sw2-dr", "router-port=dr-sw2"},
	{"ls-add", "join"},
	{"lrp-add", "dr", "dr-join", "ae:03:03:17:eb:df", "172.16.255.2/24", "fd00:16::2/64"},
	{"lsp-add", "join", "join-dr", "--", "lsp-set-type", "join-dr", "router", "--", "lsp-set-addresses", "join-dr", "router", "--", "lsp-set-options", "join-dr", "router-port=dr-join"},
	{"lr-add", "gr1", "--", "set", "logical_router", "gr1", "options:chassis=gateway01"},
	{"lrp-add", "gr1", "gr1-join", "ae:cd:cd:04:d7:d4", "172.16.255.3/24", "fd00:16::3/64"},
	{"lsp-add", "join", "join-gr1", "--", "lsp-set-type", "join-gr1", "router", "--", "lsp-set-addresses", "join-gr1", "router", "--", "lsp-set-options", "join-gr1", "router-port=gr1-join"},
	{"lrp-add", "gr1", "gr1-ext", "ae:a9:a9:0c:6f:c8", "198.51.100.1/24", "2001:db8:5::230/64"},
	{"ls-add", "ext"},
	{"lsp-add", "ext", "ext-gr1", "--", "lsp-set-type", "ext-gr1", "router", "--", "lsp-set-addresses", "ext-gr1", "router", "--", "lsp-set-options", "ext-gr1", "router-port=gr1-ext"},
	{"lsp-add", "ext", "ext-localnet", "--", "lsp-set-type", "ext-localnet", "localnet", "--", "lsp-set-addresses", "ext-localnet", "unknown", "--", "lsp-set-options", "ext-localnet", "network_name=physnet1"},
	{"lr-route-add", "gr1", "10.199.100.0/24", "172.16.255.2"},
	{"lr-route-add", "gr1", "0.0.0.0/0", "198.51.100.2"},
	{"lr-route-add", "gr1", "fd00:199:100::/64", "fd00:16::2"},
	{"lr-route-add", "gr1", "2001:db8:200::/64", "fd00:16::2"},
	{"lr-route-add", "gr1", "::/0", "2001:db8:5::1"},
	{"lr-route-add", "dr", "0.0.0.0/0", "172.16.255.3"},
	{"lr-route-add", "dr", "::/0", "fd00:16::3"},
	{"lr-nat-add", "gr1", "snat", "203.0.113.10", "10.199.100.0/24"},
	{"lr-nat-add", "gr1", "snat", "2001:db8:5::100", "fd00:199:100::/64"},
	// SNAT to gr1's own external address, shared with the host.
	{"lr-nat-add", "gr1", "snat", "198.51.100.1", "10.199.100.99"},
	// gr2: two IPv6 networks on its only (external) port.
	{"lr-add", "gr2", "--", "set", "logical_router", "gr2", "options:chassis=gateway01"},
	{"lrp-add", "gr2", "gr2-ext", "ae:a9:a9:0c:6f:c9", "198.51.100.3/24", "2001:db8:5::240/64", "2001:db8:6::240/64"},
	{"lsp-add", "ext", "ext-gr2", "--", "lsp-set-type", "ext-gr2", "router", "--", "lsp-set-addresses", "ext-gr2", "router", "--", "lsp-set-options", "ext-gr2", "router-port=gr2-ext"},
}

// gwConfigEncap is gwConfig with ovn.encap.ip = encap.
func (e *ovnEnv) gwConfigEncap(t *testing.T, name, encap string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(fmt.Sprintf(`
ovn:
  chassis: %s
  hostname: %s-host
  sb: ["unix:%s"]
  nb: ["unix:%s"]
  encap: { type: geneve, ip: "%s", csum: true }
  bridge_mappings: { physnet1: gw-ext }
interfaces:
  underlay: { name: gw-under }
  external: { name: gw-ext }
`, name, name, e.sbSock, e.nbSock, encap)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDualStackTopology: a dual-stack NB built with ovn-nbctl translates
// into the topology examples/dual-stack.yaml describes (both families on
// router ports, VM addresses, IPv6 routes, NAT66, a chassis on an IPv6
// underlay), registered with an Encap row per family of ovn.encap.ip;
// the result validates and builds; what the config cannot express (a
// second IPv6 network on a port, a VM's second IPv6 address) is reported;
// a NAT66 rule added live is applied.
func TestDualStackTopology(t *testing.T) {
	e := newOVNEnv(t)
	for _, c := range dualStackCommands {
		e.nbctl(c...)
	}
	e.sbctl("chassis-add", "hv1", "geneve", "192.0.2.2")
	e.sbctl("chassis-add", "hv2", "geneve", "2001:db8:31::22")
	e.sync()
	e.sbctl("lsp-bind", "vm1", "hv1")
	e.sbctl("lsp-bind", "vm3", "hv1")
	e.sbctl("lsp-bind", "vm2", "hv2")
	cfg := e.gwConfigEncap(t, "gateway01", "192.0.2.1,2001:db8:31::23")
	if cfg.Interfaces.Underlay.VTEPIP != "192.0.2.1" || cfg.Interfaces.Underlay.VTEPIP6 != "2001:db8:31::23" {
		t.Fatalf("VTEPs %q %q: want ovn.encap.ip's two addresses", cfg.Interfaces.Underlay.VTEPIP, cfg.Interfaces.Underlay.VTEPIP6)
	}
	ctl, first, applied := startController(t, cfg)

	// Registered: one geneve Encap row per address.
	enc := strings.Fields(e.sbctl("--bare", "--columns=ip", "find", "Encap", "chassis_name=gateway01"))
	slices.Sort(enc)
	if strings.Join(enc, " ") != "192.0.2.1 2001:db8:31::23" {
		t.Errorf("our Encap rows' IPs %v, want 192.0.2.1 and 2001:db8:31::23", enc)
	}

	ds, err := config.Load("../examples/dual-stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dr", "gr1"} {
		want, got := findRouter(ds, name), findRouter(first, name)
		if got == nil {
			t.Fatalf("router %s not translated; problems: %v", name, ctl.Status().Problems)
		}
		// Same names, MACs and networks as the hand-written file, except
		// gr1-ext's IPv4 network (the example's is 172.31.5.230/24).
		ports := func(ps []config.RouterPort) []string {
			var out []string
			for _, p := range ps {
				out = append(out, fmt.Sprintf("%s %s %s %v", p.Name, p.MAC, strings.Replace(string(p.IP), "172.31.5.230/24", "198.51.100.1/24", 1), p.External))
			}
			slices.Sort(out)
			return out
		}
		if g, w := ports(got.Ports), ports(want.Ports); !slices.Equal(g, w) {
			t.Errorf("router %s ports:\n got %q\nwant %q", name, g, w)
		}
	}
	gr := findRouter(first, "gr1")
	var routes []string
	for _, r := range gr.Routes {
		routes = append(routes, string(r.Prefix)+" via "+string(r.NextHop))
	}
	for _, w := range []string{"fd00:199:100::/64 via fd00:16::2", "2001:db8:200::/64 via fd00:16::2", "::/0 via 2001:db8:5::1", "0.0.0.0/0 via 198.51.100.2"} {
		if !slices.Contains(routes, w) {
			t.Errorf("gr1 routes %q lack %q", routes, w)
		}
	}
	if !slices.ContainsFunc(gr.NAT, func(n config.NAT) bool {
		return n.Type == "snat" && n.ExternalIP == "2001:db8:5::100" && n.LogicalIP == "fd00:199:100::/64" && n.PortRange == "1024-65535"
	}) {
		t.Errorf("gr1 NAT %+v lacks the NAT66 snat with its default port range", gr.NAT)
	}
	if !slices.ContainsFunc(gr.NAT, func(n config.NAT) bool {
		return n.ExternalIP == "198.51.100.1" && n.PortRange == "61000-65535"
	}) {
		t.Errorf("gr1 NAT %+v: the SNAT to its own external address lacks the host-shared default range 61000-65535", gr.NAT)
	}
	vm := func(sw, name string) *config.SwitchPort {
		s := findSwitch(first, sw)
		if s == nil {
			return nil
		}
		for i := range s.Ports {
			if s.Ports[i].Name == name {
				return &s.Ports[i]
			}
		}
		return nil
	}
	for _, w := range []struct{ sw, name, ip, chassis string }{
		{"sw1", "vm1", "10.199.100.10 fd00:199:100::10", "hv1"},
		{"sw1", "vm3", "fd00:199:100::30", "hv1"},
		{"sw2", "vm2", "2001:db8:200::20", "hv2"},
	} {
		p := vm(w.sw, w.name)
		if p == nil || string(p.IP) != w.ip || p.Chassis != w.chassis {
			t.Errorf("switch %s port %s = %+v, want ip %q on %s", w.sw, w.name, p, w.ip, w.chassis)
		}
	}
	if fmt.Sprint(first.Chassis) != "[{hv1 192.0.2.2} {hv2 2001:db8:31::22}]" {
		t.Errorf("chassis %v, want hv1 at 192.0.2.2 and hv2 at 2001:db8:31::22", first.Chassis)
	}
	if err := first.Validate(); err != nil {
		t.Fatalf("the translation does not validate: %v", err)
	}
	if _, err := route.Build(first); err != nil {
		t.Fatalf("the translation does not build: %v", err)
	}

	// Reported: gr2 refused for its two IPv6 networks; vm3's second
	// address not served.
	st := ctl.Status()
	if findRouter(first, "gr2") != nil || slices.Contains(st.Served, "gr2") {
		t.Errorf("gr2 (two IPv6 networks on a port) is served")
	}
	want := []string{"router gr2: router port gr2-ext has 2 IPv6 networks (2001:db8:5::240/64 2001:db8:6::240/64)",
		"switch port vm3: addresses fd00:199:100::31"}
	for _, w := range want {
		if !slices.ContainsFunc(st.Problems, func(p Problem) bool { return strings.HasPrefix(p.String(), w) }) {
			t.Errorf("problems lack %q: %v", w, st.Problems)
		}
	}
	for _, p := range st.Problems {
		if strings.Contains(p.Reason, "not IPv4") {
			t.Errorf("IPv6 still ignored: %v", p)
		}
	}

	// Live: a NAT66 floating IP for vm1.
	e.nbctl("lr-nat-add", "gr1", "dnat_and_snat", "2001:db8:5::101", "fd00:199:100::10")
	got := waitApplied(t, applied, 5*time.Second, "the NAT66 dnat_and_snat", func(c *config.Config) bool { return hasNAT(c, "gr1", "2001:db8:5::101") })
	if _, err := route.Build(got); err != nil {
		t.Fatalf("the translation with the floating IP does not build: %v", err)
	}
}

// TestChassisEncapFamilies: a peer chassis is taken at an encap IP of a
// family this gateway has a VTEP of (IPv4 first), one with several is
// reported, one with none of ours is ignored and reported.
func TestChassisEncapFamilies(t *testing.T) {
	s := &snapshot{chassis: map[string]*sbdb.Chassis{}, encaps: map[string]*sbdb.Encap{}}
	add := func(name string, ips ...string) {
		ch := &sbdb.Chassis{UUID: "c-" + name, Name: name}
		for _, ip := range ips {
			en := &sbdb.Encap{UUID: "e-" + ip, Type: "geneve", IP: ip, ChassisName: name}
			s.encaps[en.UUID] = en
			ch.Encaps = append(ch.Encaps, en.UUID)
		}
		s.chassis[ch.UUID] = ch
	}
	add("both", "2001:db8::2", "192.0.2.2")
	add("v6", "2001:db8::3")
	add("v4", "192.0.2.4")
	add("gateway01", "192.0.2.1")
	add("ll", "fe80::1")
	for _, tc := range []struct {
		vteps, want string
		notes       []string
	}{
		{"192.0.2.1", "[{both 192.0.2.2} {v4 192.0.2.4}]", []string{"chassis both: several", "chassis v6: no geneve encap IP", "chassis ll: no geneve encap IP"}},
		{"2001:db8::1", "[{both 2001:db8::2} {v6 2001:db8::3}]", []string{"chassis both: several", "chassis v4: no geneve encap IP", "chassis ll: encap IP fe80::1 is not a unicast routable"}},
		{"192.0.2.1,2001:db8::1", "[{both 192.0.2.2} {v4 192.0.2.4} {v6 2001:db8::3}]", []string{"chassis both: several", "chassis ll: encap IP fe80::1 is not"}},
	} {
		v4, v6, err := config.EncapIPs(tc.vteps).Parse()
		if err != nil {
			t.Fatal(err)
		}
		var notes []Problem
		got := newIndex(s, nil).chassisList("gateway01", v4, v6, &notes)
		if fmt.Sprint(got) != tc.want {
			t.Errorf("VTEPs %s: chassis %v, want %s", tc.vteps, got, tc.want)
		}
		if len(notes) != len(tc.notes) {
			t.Errorf("VTEPs %s: notes %v, want %q", tc.vteps, notes, tc.notes)
		}
		for _, w := range tc.notes {
			if !slices.ContainsFunc(notes, func(p Problem) bool { return strings.HasPrefix(p.String(), w) }) {
				t.Errorf("VTEPs %s: notes %v lack %q", tc.vteps, notes, w)
			}
		}
	}
}
