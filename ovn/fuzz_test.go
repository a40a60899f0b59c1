package ovn

import (
	"net/netip"
	"testing"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/ovn/nbdb"
)

// FuzzDBStrings feeds the parsers of database text (Port_Binding.mac,
// route prefixes, router port networks, remotes, schema versions)
// arbitrary strings: they must not panic, and what they accept must be
// what they claim.
func FuzzDBStrings(f *testing.F) {
	for _, s := range []string{"00:00:19:91:00:10 10.199.100.10", "0a:58:0a:f4:00:05 10.244.0.5 fd00::5", "router", "unknown",
		"10.0.0.0/8", "10.0.0.1", "::/0", "20.27.0", "unix:/run/ovn/ovnsb_db.sock", "ssl:[fd00::1]:6642", "tcp:192.0.2.1:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if mac, ip, ok := vifAddress([]string{s}); ok {
			if !ip.Is4() || mac == "" {
				t.Fatalf("vifAddress(%q) = %q %v", s, mac, ip)
			}
		}
		if p := routePrefix(s); p != s {
			if _, err := netip.ParsePrefix(p); err != nil {
				t.Fatalf("routePrefix(%q) = %q, not a prefix", s, p)
			}
		}
		if nw, err := ipv4Network(&nbdb.LogicalRouterPort{Name: "p", Networks: []string{s, s}}); err == nil {
			t.Fatalf("two identical networks %q accepted as one: %q", s, nw)
		}
		if nw, err := ipv4Network(&nbdb.LogicalRouterPort{Name: "p", Networks: []string{s}}); err == nil {
			if p, perr := netip.ParsePrefix(nw); perr != nil || !p.Addr().Is4() {
				t.Fatalf("ipv4Network(%q) = %q", s, nw)
			}
		}
		_, _ = config.CheckOVSDBRemote(s)
		_ = sbSchema.check(s)
	})
}
