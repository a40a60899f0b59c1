package bpf

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// MaxRoutedPrefixes6 is the size of xgw_routed6 (XGW_MAX_ROUTED6).
const MaxRoutedPrefixes6 = 1024

// lpm6Key is p as xgw_routed6's key: host bits cleared.
func lpm6Key(p netip.Prefix) (gwXgwLpm6Key, error) {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() {
		return gwXgwLpm6Key{}, fmt.Errorf("bpf: routed prefix %s is not an IPv6 prefix", p)
	}
	p = p.Masked()
	return gwXgwLpm6Key{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As16()}, nil
}

// SetRoutedPrefix6 steers external IPv6 to any address in p (a routed,
// non-NAT prefix of a gateway router) into the AF_XDP sockets, through
// the fast path first, as IPv6 to a NAT66 address is. Setting a prefix
// that is there already is not an error. Neighbour discovery for
// addresses in p stays the kernel's.
func (o *Objects) SetRoutedPrefix6(p netip.Prefix) error {
	k, err := lpm6Key(p)
	if err != nil {
		return err
	}
	if err := o.objs.XgwRouted6.Put(&k, uint32(0)); err != nil {
		return fmt.Errorf("bpf: add routed prefix %s: %w", p.Masked(), err)
	}
	return nil
}

// RemoveRoutedPrefix6 stops steering p (exactly that prefix, not the
// longer ones inside it); removing an absent prefix is not an error.
func (o *Objects) RemoveRoutedPrefix6(p netip.Prefix) error {
	k, err := lpm6Key(p)
	if err != nil {
		return err
	}
	if err := o.objs.XgwRouted6.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpf: remove routed prefix %s: %w", p.Masked(), err)
	}
	return nil
}

// RoutedPrefixes6 lists the steered routed prefixes, in the map's order:
// what a previous xgw left in an adopted program's maps.
func (o *Objects) RoutedPrefixes6() ([]netip.Prefix, error) {
	var (
		out []netip.Prefix
		k   gwXgwLpm6Key
		v   uint32
	)
	it := o.objs.XgwRouted6.Iterate()
	for it.Next(&k, &v) {
		out = append(out, netip.PrefixFrom(netip.AddrFrom16(k.Addr), int(k.Prefixlen)))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("bpf: list routed prefixes: %w", err)
	}
	return out, nil
}
