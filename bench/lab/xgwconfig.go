package lab

// The xgw configuration for a lab, kept in this one file so that it can follow
// the config package's format (config.Config) as it evolves. It mirrors that
// format with local types instead of importing it, so the lab does not depend
// on the gateway's code; TestXGWConfigParses feeds the output to
// config.Parse, so a drift fails the tests. Names and keys are those of
// examples/lab.yaml; the lab's differences are the interface names (gw-u,
// gw-x), one sw1 port per VM and a per-lab control socket.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

type xgwConfig struct {
	Interfaces struct {
		Underlay struct {
			Name    string `yaml:"name"`
			VTEPIP  string `yaml:"vtep_ip"`
			VTEPIP6 string `yaml:"vtep_ip6,omitempty"`
		} `yaml:"underlay"`
		External struct {
			Name string `yaml:"name"`
		} `yaml:"external"`
	} `yaml:"interfaces"`
	Geneve struct {
		Port     int  `yaml:"port"`
		Checksum bool `yaml:"checksum"`
		TTL      int  `yaml:"ttl"`
	} `yaml:"geneve"`
	Conntrack struct {
		Capacity int `yaml:"capacity"`
	} `yaml:"conntrack"`
	Chassis  []xgwChassis `yaml:"chassis"`
	Switches []xgwSwitch  `yaml:"switches"`
	Routers  []xgwRouter  `yaml:"routers"`
	Offload  struct {
		Enabled bool `yaml:"enabled"`
		// PinPath is "none" in the lab: a test's xgw leaves nothing
		// attached when it stops. Tests of a hitless restart set their own
		// (PinPath below).
		PinPath string `yaml:"pin_path"`
	} `yaml:"offload"`
	Control struct {
		Socket string `yaml:"socket"`
	} `yaml:"control"`
}

type xgwChassis struct {
	Name string `yaml:"name"`
	IP   string `yaml:"ip"`
}

type xgwSwitch struct {
	Name  string          `yaml:"name"`
	Key   int             `yaml:"key"`
	Ports []xgwSwitchPort `yaml:"ports"`
}

type xgwSwitchPort struct {
	Name       string `yaml:"name"`
	Key        int    `yaml:"key"`
	RouterPort string `yaml:"router_port,omitempty"`
	MAC        string `yaml:"mac,omitempty"`
	IP         string `yaml:"ip,omitempty"`
	Chassis    string `yaml:"chassis,omitempty"`
}

type xgwRouter struct {
	Name        string          `yaml:"name"`
	Distributed bool            `yaml:"distributed"`
	Zones       *xgwZones       `yaml:"zones,omitempty"`
	Ports       []xgwRouterPort `yaml:"ports"`
	Routes      []xgwRoute      `yaml:"routes,omitempty"`
	NAT         []xgwNAT        `yaml:"nat,omitempty"`
}

type xgwZones struct {
	DNAT int `yaml:"dnat"`
	SNAT int `yaml:"snat"`
}

type xgwRouterPort struct {
	Name     string `yaml:"name"`
	MAC      string `yaml:"mac"`
	IP       string `yaml:"ip"`
	External bool   `yaml:"external,omitempty"`
}

type xgwRoute struct {
	Prefix  string `yaml:"prefix"`
	NextHop string `yaml:"nexthop"`
}

type xgwNAT struct {
	Type       string `yaml:"type"`
	LogicalIP  string `yaml:"logical_ip"`
	ExternalIP string `yaml:"external_ip"`
	PortRange  string `yaml:"port_range,omitempty"`
}

// HVChassis is the chassis name of the lab's hypervisor in the xgw config.
const HVChassis = "hv"

// XGWConfig returns the xgw YAML config for this lab: the seed's topology
// (join switch key 1 with dr-join 1 / gr1-join 2; sw1 key 9 with dr-sw1 1 and
// the VMs from key 2; GR gr1 with zones dnat 6 / snat 16 and SNAT of
// 10.199.100.0/24 to 203.0.113.10). The GR's external port MAC is gw-x's real
// MAC: the lab sets gw-x to ae:a9:a9:0c:6f:c8.
func (l *Lab) XGWConfig() ([]byte, error) {
	a := &l.addrs
	var c xgwConfig
	c.Interfaces.Underlay.Name = a.GWUnderlay
	c.Interfaces.Underlay.VTEPIP = a.VTEPIP.String()
	c.Interfaces.External.Name = a.GWExternal
	c.Geneve.Port = GenevePort
	c.Geneve.Checksum = true
	c.Geneve.TTL = 64
	c.Chassis = []xgwChassis{{Name: HVChassis, IP: a.ChassisIP().String()}}
	c.Switches = []xgwSwitch{
		{Name: "join", Key: JoinVNI, Ports: []xgwSwitchPort{
			{Name: "dr-join", Key: JoinOption >> 16, RouterPort: "dr-join"},
			{Name: "gr1-join", Key: JoinOption & 0xffff, RouterPort: "gr1-join"},
		}},
	}
	sw1 := xgwSwitch{Name: "sw1", Key: SwitchVNI, Ports: []xgwSwitchPort{{Name: "dr-sw1", Key: 1, RouterPort: "dr-sw1"}}}
	for i, vm := range a.VMs {
		sw1.Ports = append(sw1.Ports, xgwSwitchPort{Name: fmt.Sprintf("vm%d", i+1), Key: vm.PortKey,
			MAC: vm.MAC.String(), IP: vm.IP.String(), Chassis: HVChassis})
	}
	c.Switches = append(c.Switches, sw1)
	dr := xgwRouter{Name: "dr", Distributed: true,
		Ports: []xgwRouterPort{
			{Name: "dr-join", MAC: a.DRJoinMAC.String(), IP: a.DRJoinIP.String()},
			{Name: "dr-sw1", MAC: a.VMGWMAC.String(), IP: fmt.Sprintf("%s/%d", a.VMGateway, a.VMPrefix.Bits())},
		},
		Routes: []xgwRoute{{Prefix: "0.0.0.0/0", NextHop: a.GRJoinIP.Addr().String()}},
	}
	gr := xgwRouter{Name: "gr1",
		Zones: &xgwZones{DNAT: 6, SNAT: 16},
		Ports: []xgwRouterPort{
			{Name: "gr1-join", MAC: a.GRJoinMAC.String(), IP: a.GRJoinIP.String()},
			{Name: "gr1-ext", MAC: a.GWExternalMAC.String(), IP: a.GWExternalIP.String(), External: true},
		},
		Routes: []xgwRoute{
			{Prefix: a.VMPrefix.String(), NextHop: a.DRJoinIP.Addr().String()},
			{Prefix: "0.0.0.0/0", NextHop: a.ExtIP.String()},
		},
		NAT: []xgwNAT{{Type: "snat", LogicalIP: a.VMPrefix.String(), ExternalIP: a.SNATIP.String()}},
	}
	c.Routers = []xgwRouter{dr, gr}
	a.dualStack(&c)
	c.Conntrack.Capacity = 65536
	c.Offload.Enabled = true
	c.Offload.PinPath = "none"
	// Per lab, so that two labs can each run an xgw.
	c.Control.Socket = filepath.Join(a.WorkDir, "xgw.sock")
	var b bytes.Buffer
	fmt.Fprintf(&b, "# xgw config for lab %s (generated by bench/lab).\n# Run xgw in ns %s.\n", a.Name, a.Namespaces["gw"])
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteXGWConfig writes XGWConfig to path.
func (l *Lab) WriteXGWConfig(path string) error {
	b, err := l.XGWConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// PinPath is a bpffs directory unique to this lab, for tests that pin the
// fast path (offload.pin_path); they remove it when done.
func (l *Lab) PinPath() string { return "/sys/fs/bpf/xgwlab-" + l.addrs.Name }
