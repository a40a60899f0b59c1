package ovn

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/ovn/nbdb"
)

// FuzzDBStrings feeds the parsers of database text (Port_Binding.mac,
// route prefixes, router port networks, remotes, schema versions)
// arbitrary strings: they must not panic, and what they accept must be
// what they claim.
func FuzzDBStrings(f *testing.F) {
	for _, s := range []string{"00:00:19:91:00:10 10.199.100.10", "0a:58:0a:f4:00:05 10.244.0.5 fd00::5", "0a:58:0a:f4:00:05 fd00::5 fe80::1 fd00::6 10.0.0.1", "fd00:16::3/64", "192.0.2.1,2001:db8::1", "router", "unknown",
		"10.0.0.0/8", "10.0.0.1", "::/0", "20.27.0", "unix:/run/ovn/ovnsb_db.sock", "ssl:[fd00::1]:6642", "tcp:192.0.2.1:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if mac, addrs, _ := vifAddresses([]string{s}); mac != "" {
			var v4, v6 int
			for _, a := range addrs {
				if a.Is4() {
					v4++
				} else if a.Is6() && !a.Is4In6() && !a.IsLinkLocalUnicast() {
					v6++
				}
			}
			if v4 > 1 || v6 > 1 || v4+v6 != len(addrs) || len(addrs) == 0 {
				t.Fatalf("vifAddresses(%q) = %q %v: want one address per family at most", s, mac, addrs)
			}
			if _, _, err := config.Addresses(joinAddrs(addrs)).Parse(); err != nil {
				t.Fatalf("vifAddresses(%q) = %v, not config.Addresses: %v", s, addrs, err)
			}
		}
		if p := routePrefix(s); p != s {
			if _, err := netip.ParsePrefix(p); err != nil {
				t.Fatalf("routePrefix(%q) = %q, not a prefix", s, p)
			}
		}
		if nw, err := portNetworks(&nbdb.LogicalRouterPort{Name: "p", Networks: []string{s, s}}); err == nil {
			t.Fatalf("two identical networks %q accepted as one: %q", s, nw)
		}
		if nw, err := portNetworks(&nbdb.LogicalRouterPort{Name: "p", Networks: []string{s}}); err == nil {
			if _, perr := netip.ParsePrefix(string(nw)); perr != nil || len(subnets(nw)) != 1 {
				t.Fatalf("portNetworks(%q) = %q", s, nw)
			}
		}
		_, _ = config.CheckOVSDBRemote(s)
		_, _, _ = config.EncapIPs(s).Parse()
		_ = sbSchema.check(s)
	})
}

func joinAddrs(as []netip.Addr) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, " ")
}
