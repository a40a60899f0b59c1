package config

import (
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// OVN is the `ovn:` section: what ovn-controller takes from the local OVS
// database (external_ids:system-id, hostname, ovn-remote, ovn-encap-*,
// ovn-bridge-mappings) and nothing more. Everything else — the chassis
// list, switches, routers, NAT rules, routes, tunnel keys — is read from
// the NB and SB databases by the ovn package. A file with this section
// must not also carry a YAML topology.
type OVN struct {
	// Chassis is this gateway's Chassis.name (ovn-controller's system-id).
	Chassis string `yaml:"chassis"`
	// Hostname is Chassis.hostname; empty = os.Hostname().
	Hostname string `yaml:"hostname"`
	// SB and NB are OVSDB remotes: tcp:IP:PORT, ssl:IP:PORT or unix:PATH.
	// Several name the members of a raft cluster.
	SB []string `yaml:"sb"`
	NB []string `yaml:"nb"`
	// TLS holds the files for ssl: remotes.
	TLS OVNTLS `yaml:"tls"`
	// Encap is this chassis's tunnel endpoint, registered as its Encap row.
	Encap OVNEncap `yaml:"encap"`
	// BridgeMappings maps a localnet port's network_name to the interface
	// that reaches that physical network (ovn-bridge-mappings, with an
	// interface instead of an OVS bridge). xgw has one external interface,
	// so every value must be interfaces.external.name.
	BridgeMappings map[string]string `yaml:"bridge_mappings"`
	// CleanupOnExit, when true, makes a normal stop of xgw do what
	// `ovn-appctl exit` (without --restart) does to ovn-controller: release
	// the claimed port bindings and delete the Chassis and Chassis_Private
	// rows. Default false: the rows stay, as ovn-controller's do when it is
	// restarted (exit --restart) or killed by SIGTERM, so that a restart of
	// xgw (whose offloaded flows survive it) does not make northd withdraw
	// and re-add the gateway's flows.
	CleanupOnExit bool `yaml:"cleanup_on_exit"`
}

// OVNTLS names the PEM files of ssl: connections (ovn-controller's -p, -c
// and -C).
type OVNTLS struct {
	PrivateKey  string `yaml:"private_key"`
	Certificate string `yaml:"certificate"`
	CACert      string `yaml:"ca_cert"`
}

// OVNEncap is ovn-encap-type, ovn-encap-ip and ovn-encap-csum.
type OVNEncap struct {
	Type string   `yaml:"type"` // geneve (the only one xgw speaks); empty = geneve
	IP   EncapIPs `yaml:"ip"`
	Csum *bool    `yaml:"csum"` // absent = true, as ovn-controller's default
}

// EncapIPs is ovn-encap-ip: one address, IPv4 ("192.0.2.1") or IPv6
// ("2001:db8::1"), or ovn-controller's comma-separated list, here at most
// one per family ("192.0.2.1,2001:db8::1"): a chassis reachable over both
// underlays. Each is registered as an Encap row and becomes our VTEP of
// its family (interfaces.underlay.vtep_ip / vtep_ip6).
type EncapIPs string

// Parse returns the IPv4 and IPv6 addresses (either may be the zero
// netip.Addr, not both).
func (s EncapIPs) Parse() (v4, v6 netip.Addr, err error) {
	for _, f := range strings.Split(string(s), ",") {
		a, err := IP(strings.TrimSpace(f)).Parse()
		if err != nil {
			return netip.Addr{}, netip.Addr{}, err
		}
		dst := &v4
		if a.Is6() {
			dst = &v6
		}
		if dst.IsValid() {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("%q: one address per family (%s and %s)", string(s), *dst, a)
		}
		*dst = a
	}
	return v4, v6, nil
}

// List returns the addresses as written, in order (the Encap rows).
func (s EncapIPs) List() []string {
	var out []string
	for _, f := range strings.Split(string(s), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// CsumEnabled reports the effective csum option (true if absent).
func (e OVNEncap) CsumEnabled() bool { return e.Csum == nil || *e.Csum }

// applyOVNDefaults derives what the rest of the file would otherwise have
// to repeat: the VTEP address is the encap IP, the outer UDP checksum is
// the encap's csum option.
func (c *Config) applyOVNDefaults() {
	o := c.OVN
	if o == nil {
		return
	}
	if o.Encap.Type == "" {
		o.Encap.Type = "geneve"
	}
	if o.Encap.Csum == nil {
		on := true
		o.Encap.Csum = &on
	}
	if v4, v6, err := o.Encap.IP.Parse(); err == nil {
		u := &c.Interfaces.Underlay
		if u.VTEPIP == "" && v4.IsValid() {
			u.VTEPIP = IPv4(v4.String())
		}
		if u.VTEPIP6 == "" && v6.IsValid() {
			u.VTEPIP6 = IPv6(v6.String())
		}
	}
	if c.Geneve.Checksum == nil {
		v := *o.Encap.Csum
		c.Geneve.Checksum = &v
	}
}

// ovn checks the ovn: section, and that the file does not also describe a
// topology.
func (v *validator) ovn() {
	o := v.c.OVN
	if o == nil {
		return
	}
	for _, f := range []struct {
		key string
		n   int
	}{{"chassis", len(v.c.Chassis)}, {"switches", len(v.c.Switches)}, {"routers", len(v.c.Routers)}} {
		if f.n > 0 {
			v.p.add(f.key, "not allowed with ovn: in OVN mode the topology is read from the OVN databases; remove %s (or the ovn: section to use the YAML topology)", f.key)
		}
	}
	v.required("ovn.chassis", o.Chassis)
	ssl := false
	for _, db := range []struct {
		key     string
		remotes []string
	}{{"ovn.sb", o.SB}, {"ovn.nb", o.NB}} {
		if len(db.remotes) == 0 {
			v.p.add(db.key, "required: at least one remote (tcp:IP:PORT, ssl:IP:PORT or unix:PATH)")
		}
		for i, r := range db.remotes {
			isSSL, err := CheckOVSDBRemote(r)
			if err != nil {
				v.p.add(fmt.Sprintf("%s[%d]", db.key, i), "%v", err)
			}
			ssl = ssl || isSSL
		}
	}
	t := o.TLS
	if ssl {
		v.required("ovn.tls.private_key", t.PrivateKey)
		v.required("ovn.tls.certificate", t.Certificate)
		v.required("ovn.tls.ca_cert", t.CACert)
	}
	// Without ssl: remotes the TLS files are not read: an operator may
	// keep them in the file while testing over tcp:.
	if o.Encap.Type != "geneve" {
		v.p.add("ovn.encap.type", "%q: xgw speaks geneve only", o.Encap.Type)
	}
	if v.required("ovn.encap.ip", string(o.Encap.IP)) {
		v4, v6, err := o.Encap.IP.Parse()
		v.p.check("ovn.encap.ip", err)
		u := v.c.Interfaces.Underlay
		if err == nil && (u.VTEPIP != "" || v4.IsValid()) && u.VTEPIP.Value().Addr() != v4 {
			v.p.add("interfaces.underlay.vtep_ip", "%q differs from ovn.encap.ip's IPv4 address %q; leave it out in OVN mode", u.VTEPIP, o.Encap.IP)
		}
		if err == nil && (u.VTEPIP6 != "" || v6.IsValid()) && u.VTEPIP6.Value() != v6 {
			v.p.add("interfaces.underlay.vtep_ip6", "%q differs from ovn.encap.ip's IPv6 address %q; leave it out in OVN mode", u.VTEPIP6, o.Encap.IP)
		}
	}
	if v.c.Geneve.ChecksumEnabled() != o.Encap.CsumEnabled() {
		v.p.add("geneve.checksum", "differs from ovn.encap.csum; leave it out in OVN mode")
	}
	if len(o.BridgeMappings) == 0 {
		v.p.add("ovn.bridge_mappings", "required: the physical network of the external switch's localnet port -> %q", v.c.Interfaces.External.Name)
	}
	for _, nw := range slices.Sorted(maps.Keys(o.BridgeMappings)) {
		if ifc := o.BridgeMappings[nw]; ifc != v.c.Interfaces.External.Name {
			v.p.add("ovn.bridge_mappings."+nw, "%q is not interfaces.external.name (%q), the only interface xgw reaches physical networks through", ifc, v.c.Interfaces.External.Name)
		}
	}
}

// CheckOVSDBRemote checks an OVSDB remote as ovn-controller's ovn-remote
// takes it (active connections only): tcp:IP:PORT, ssl:IP:PORT (IPv6 in
// brackets) or unix:PATH with an absolute path. It reports whether the
// remote needs TLS.
func CheckOVSDBRemote(r string) (ssl bool, err error) {
	proto, rest, ok := strings.Cut(r, ":")
	switch {
	case !ok:
	case proto == "unix":
		if !filepath.IsAbs(rest) {
			return false, fmt.Errorf("%q: unix: wants an absolute socket path", r)
		}
		return false, nil
	case proto == "tcp" || proto == "ssl":
		host, port, err := splitHostPort(rest)
		if err != nil {
			return false, fmt.Errorf("%q: %v", r, err)
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return false, fmt.Errorf("%q: %q is not an IP address (host names are not resolved)", r, host)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false, fmt.Errorf("%q: port %q is not 1..65535", r, port)
		}
		return proto == "ssl", nil
	}
	return false, fmt.Errorf("%q: want tcp:IP:PORT, ssl:IP:PORT or unix:PATH", r)
}

// splitHostPort splits "IP:PORT" or "[IPv6]:PORT".
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		h, p, ok := strings.Cut(s[1:], "]:")
		if !ok {
			return "", "", fmt.Errorf("want [IPv6]:PORT")
		}
		return h, p, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", fmt.Errorf("want IP:PORT")
	}
	return s[:i], s[i+1:], nil
}
