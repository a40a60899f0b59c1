package config

import (
	"net/netip"
	"testing"
)

// FuzzValues feeds arbitrary text to the address parsers that take either
// family: none may panic, and what one accepts must hold what its doc
// promises (family per slot, no zones or mapped addresses, masked
// prefixes) and read back the same from its canonical form.
func FuzzValues(f *testing.F) {
	for _, s := range []string{
		"172.16.255.3/24 fd00:16::3/64", "fd00:16::3/64", "172.16.255.3/24", "10.199.100.10 fd00:199:100::10",
		"2001:db8::1", "::/0", "0.0.0.0/0", "fe80::1%eth0", "::ffff:1.2.3.4", "1.2.3", "2001:db8::1/129",
		"a b c", " ", "fe80::1/64", "2001:db8:200::1/64 2001:db8:201::1/64",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v4, v6, err := CIDR(s).Networks(); err == nil {
			if !v4.IsValid() && !v6.IsValid() || v4.IsValid() && !v4.Addr().Is4() || v6.IsValid() && (!v6.Addr().Is6() || v6.Addr().Is4In6() || v6.Addr().Zone() != "" || v6.Addr().IsLinkLocalUnicast()) {
				t.Fatalf("CIDR(%q) = %v %v", s, v4, v6)
			}
			canon := ""
			for _, p := range []netip.Prefix{v4, v6} {
				if p.IsValid() {
					canon += p.String() + " "
				}
			}
			if a, b, err := CIDR(canon).Networks(); err != nil || a != v4 || b != v6 {
				t.Fatalf("CIDR(%q) = %v %v, but its canonical %q reads %v %v, %v", s, v4, v6, canon, a, b, err)
			}
		}
		if v4, v6, err := Addresses(s).Parse(); err == nil {
			if !v4.IsValid() && !v6.IsValid() || v4.IsValid() && !v4.Is4() || v6.IsValid() && (!v6.Is6() || v6.Is4In6() || v6.Zone() != "") {
				t.Fatalf("Addresses(%q) = %v %v", s, v4, v6)
			}
		}
		if a, err := IP(s).Parse(); err == nil {
			if a.Zone() != "" || a.Is4In6() {
				t.Fatalf("IP(%q) = %v", s, a)
			}
			if b, err := IP(a.String()).Parse(); err != nil || b != a {
				t.Fatalf("IP(%q) = %v, but %q reads %v, %v", s, a, a.String(), b, err)
			}
		}
		if p, err := Prefix(s).Parse(); err == nil {
			if p.Masked() != p || p.Addr().Zone() != "" || p.Addr().Is4In6() {
				t.Fatalf("Prefix(%q) = %v", s, p)
			}
			if q, err := Prefix(p.String()).Parse(); err != nil || q != p {
				t.Fatalf("Prefix(%q) = %v, but %q reads %v, %v", s, p, p.String(), q, err)
			}
		}
	})
}
