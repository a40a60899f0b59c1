package config

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/xgw-dev/xgw/nat"
	"github.com/xgw-dev/xgw/packet"
)

func load(t *testing.T, name string) *Config {
	t.Helper()
	c, err := Load(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

func TestExamplesLoad(t *testing.T) {
	for _, name := range []string{"seed.yaml", "two-tenants.yaml", "lab.yaml", "distributed-gateway.yaml"} {
		t.Run(name, func(t *testing.T) { load(t, name) })
	}
}

func TestSeedValues(t *testing.T) {
	c := load(t, "seed.yaml")
	if got := c.Interfaces.Underlay.VTEPIP.Value(); got != packet.MustIP4("172.31.5.23") {
		t.Errorf("vtep = %s", got)
	}
	if c.Geneve.Port != 6081 || !c.Geneve.ChecksumEnabled() || c.Geneve.TTL != 64 {
		t.Errorf("geneve = %+v", c.Geneve)
	}
	if d := c.Conntrack.Timeouts.TCPEstablished.Value().Hours(); d != 24 {
		t.Errorf("tcp_established = %vh", d)
	}
	gr := c.Routers[1]
	if gr.Name != "gr1" || gr.Distributed || gr.Zones != (Zones{DNAT: 6, SNAT: 16}) {
		t.Errorf("gr1 = %+v", gr)
	}
	if m := gr.Ports[0].MAC.Value(); m != packet.MustMAC("ae:cd:cd:04:d7:d4") {
		t.Errorf("gr1-join mac = %s", m)
	}
	if p := gr.Ports[1].IP.Value(); p != netip.MustParsePrefix("172.31.5.230/24") {
		t.Errorf("gr1-ext ip = %s", p)
	}
	n := gr.NAT[0]
	lo, hi, err := n.PortRange.Parse()
	if n.Type.Value() != nat.KindSNAT || n.LogicalIP.Value() != netip.MustParsePrefix("10.199.100.0/24") ||
		n.ExternalIP.Value() != packet.MustIP4("123.123.123.123").Addr() || err != nil || lo != 1024 || hi != 65535 {
		t.Errorf("nat = %+v (%d-%d, %v)", n, lo, hi, err)
	}
	vm := c.Switches[1].Ports[1]
	if vm.Key != 2 || vm.MAC.Value() != packet.MustMAC("00:00:19:91:00:10") || vm.Chassis != "node01" {
		t.Errorf("vm1 = %+v", vm)
	}
}

// TestDefaults checks that a minimal file gets the documented defaults.
func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Geneve.Port != DefaultGenevePort || c.Geneve.TTL != DefaultGeneveTTL || !c.Geneve.ChecksumEnabled() {
		t.Errorf("geneve defaults: %+v", c.Geneve)
	}
	if c.Control.Socket != DefaultControlSocket {
		t.Errorf("socket default: %q", c.Control.Socket)
	}
	if c.Routers[1].NAT[0].PortRange != "1024-65535" {
		t.Errorf("port range default: %q", c.Routers[1].NAT[0].PortRange)
	}
}

// TestGoBuiltConfig checks that a Config written as Go literals validates
// and that its errors carry no line.
func TestGoBuiltConfig(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	cc := *c
	cc.lines = nil
	if err := cc.Validate(); err != nil {
		t.Fatal(err)
	}
	cc.Routers = append([]Router(nil), c.Routers...)
	cc.Routers[1].Zones.SNAT = 0
	err = cc.Validate()
	if err == nil || err.Error() != "routers[1].zones.snat: required: a zone 1..65535" {
		t.Fatalf("got %v", err)
	}
}

func TestXDPDefaults(t *testing.T) {
	var c Config
	c.ApplyDefaults()
	if c.XDP.Attach != XDPAttachSelf || c.XDP.PinPath != "" {
		t.Fatalf("self: %+v", c.XDP)
	}
	c = Config{XDP: XDP{Attach: XDPAttachAdopt}}
	c.ApplyDefaults()
	if c.XDP.PinPath != DefaultXDPPinPath {
		t.Fatalf("adopt: %+v", c.XDP)
	}
}

// TestDefaultPorts: snat shares its address (unprivileged ports), a
// floating IP owns all of its ports, dnat allocates none.
func TestDefaultPorts(t *testing.T) {
	for _, tc := range []struct {
		k      nat.Kind
		lo, hi uint16
		ok     bool
	}{{nat.KindSNAT, 1024, 65535, true}, {nat.KindDNATAndSNAT, 1, 65535, true}, {nat.KindDNAT, 0, 0, false}} {
		if lo, hi, ok := DefaultPorts(tc.k); lo != tc.lo || hi != tc.hi || ok != tc.ok {
			t.Errorf("%v: %d-%d %v, want %d-%d %v", tc.k, lo, hi, ok, tc.lo, tc.hi, tc.ok)
		}
	}
}

// TestCheckOutportDefault: geneve.check_outport is on unless turned off.
func TestCheckOutportDefault(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Geneve.CheckOutportEnabled() {
		t.Fatal("check_outport is off by default")
	}
	off := false
	c.Geneve.CheckOutport = &off
	if c.Geneve.CheckOutportEnabled() {
		t.Fatal("check_outport: false is ignored")
	}
}
