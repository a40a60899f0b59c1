package nat

import "fmt"

// Kind is the type of a NAT rule, as in OVN's NB NAT table. The zero Kind
// is no kind: ParseKind never returns it without an error.
type Kind uint8

const (
	KindSNAT        Kind = iota + 1 // a logical network leaves as an external address
	KindDNAT                        // an external address leads to one logical address
	KindDNATAndSNAT                 // both, for one logical address: a floating IP
)

var kindNames = [...]string{KindSNAT: "snat", KindDNAT: "dnat", KindDNATAndSNAT: "dnat_and_snat"}

// String returns the kind as a configuration writes it ("dnat_and_snat").
func (k Kind) String() string {
	if k != 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("nat.Kind(%d)", uint8(k))
}

// ParseKind returns the kind written as s. The error quotes s and lists the
// kinds; the caller says which field s came from.
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if k != 0 && name == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("%q is not snat, dnat or dnat_and_snat", s)
}
