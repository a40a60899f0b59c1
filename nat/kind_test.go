package nat

import "testing"

func TestKindRoundTrip(t *testing.T) {
	for _, k := range []Kind{KindSNAT, KindDNAT, KindDNATAndSNAT} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}
	for _, s := range []string{"", "SNAT", "dnat-and-snat", "nat.Kind(0)"} {
		if k, err := ParseKind(s); err == nil {
			t.Errorf("ParseKind(%q) = %v, want an error", s, k)
		}
	}
	if _, err := ParseKind("masquerade"); err == nil || err.Error() != `"masquerade" is not snat, dnat or dnat_and_snat` {
		t.Errorf("ParseKind error: %v", err)
	}
	if s := Kind(0).String(); s != "nat.Kind(0)" {
		t.Errorf("zero Kind prints %q", s)
	}
}
