package config

import (
	"strings"
	"testing"
)

const ovnFile = `
ovn:
  chassis: gateway01
  sb: ["unix:/run/ovn/ovnsb_db.sock"]
  nb: ["unix:/run/ovn/ovnnb_db.sock"]
  encap: { type: geneve, ip: 192.0.2.1, csum: true }
  bridge_mappings: { physnet1: gw-ext }
interfaces:
  underlay: { name: gw-under }
  external: { name: gw-ext }
`

func TestOVNSection(t *testing.T) {
	c, err := Parse([]byte(ovnFile))
	if err != nil {
		t.Fatal(err)
	}
	if c.OVN == nil || c.OVN.Chassis != "gateway01" || c.OVN.BridgeMappings["physnet1"] != "gw-ext" {
		t.Fatalf("ovn section: %+v", c.OVN)
	}
	if c.Interfaces.Underlay.VTEPIP != "192.0.2.1" || !c.Geneve.ChecksumEnabled() {
		t.Fatalf("vtep %q checksum %v: want the encap's", c.Interfaces.Underlay.VTEPIP, c.Geneve.ChecksumEnabled())
	}
}

func TestOVNSectionErrors(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"topology too", ovnFile + "routers:\n  - { name: r }\n", "routers: not allowed with ovn"},
		{"no chassis", strings.Replace(ovnFile, "chassis: gateway01", "", 1), "ovn.chassis: required"},
		{"bad remote", strings.Replace(ovnFile, "unix:/run/ovn/ovnsb_db.sock", "tcp:ovn-central:6642", 1), "ovn.sb[0]"},
		{"ssl without tls", strings.Replace(ovnFile, "unix:/run/ovn/ovnsb_db.sock", "ssl:192.0.2.9:6642", 1), "ovn.tls.private_key: required"},
		{"vxlan", strings.Replace(ovnFile, "type: geneve", "type: vxlan", 1), "ovn.encap.type"},
		{"mapping elsewhere", strings.Replace(ovnFile, "physnet1: gw-ext", "physnet1: eth9", 1), "ovn.bridge_mappings.physnet1"},
		{"vtep differs", strings.Replace(ovnFile, "name: gw-under }", "name: gw-under, vtep_ip: 192.0.2.7 }", 1), "interfaces.underlay.vtep_ip"},
		{"vtep6 differs", strings.Replace(strings.Replace(ovnFile, "ip: 192.0.2.1,", "ip: \"192.0.2.1,2001:db8::1\",", 1), "name: gw-under }", "name: gw-under, vtep_ip6: \"2001:db8::7\" }", 1), "interfaces.underlay.vtep_ip6"},
		{"two of a family", strings.Replace(ovnFile, "ip: 192.0.2.1,", "ip: \"192.0.2.1,192.0.2.2\",", 1), "ovn.encap.ip: \"192.0.2.1,192.0.2.2\": one address per family"},
		{"encap not an IP", strings.Replace(ovnFile, "ip: 192.0.2.1,", "ip: \"192.0.2.1,fd00::x\",", 1), "ovn.encap.ip"},
		{"unknown key", strings.Replace(ovnFile, "chassis: gateway01", "chassis: gateway01\n  sytem_id: x", 1), "ovn.sytem_id: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestOVNEncapIPv6: ovn.encap.ip may be IPv6, or one address of each
// family (ovn-encap-ip's comma list): each becomes our VTEP of its family.
func TestOVNEncapIPv6(t *testing.T) {
	for _, tc := range []struct{ ip, v4, v6 string }{
		{"2001:db8::1", "", "2001:db8::1"},
		{"192.0.2.1, 2001:db8::1", "192.0.2.1", "2001:db8::1"},
		{"2001:db8::1,192.0.2.1", "192.0.2.1", "2001:db8::1"},
	} {
		c, err := Parse([]byte(strings.Replace(ovnFile, "ip: 192.0.2.1,", "ip: \""+tc.ip+"\",", 1)))
		if err != nil {
			t.Fatalf("%s: %v", tc.ip, err)
		}
		if u := c.Interfaces.Underlay; string(u.VTEPIP) != tc.v4 || string(u.VTEPIP6) != tc.v6 {
			t.Errorf("%s: VTEPs %q %q, want %q %q", tc.ip, u.VTEPIP, u.VTEPIP6, tc.v4, tc.v6)
		}
	}
}

// TestOVNExample: examples/ovn.yaml is a valid OVN-mode file.
func TestOVNExample(t *testing.T) {
	c, err := Load("../examples/ovn.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.OVN == nil || len(c.Routers) != 0 {
		t.Fatalf("want an OVN-mode config without a YAML topology: %+v", c)
	}
}
