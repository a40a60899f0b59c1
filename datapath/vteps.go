package datapath

import "github.com/xgw-dev/xgw/packet"

// vtepSet is a set of IPv4 addresses for the per-packet "is this a known
// chassis" check: open addressing over a power-of-two table at most half
// full, so a lookup is a multiply and one or two probes, with no map
// hashing on the hot path. Built once per plan, read-only after.
type vtepSet struct {
	slots []uint32 // address+1 would be ambiguous; 0.0.0.0 is never a VTEP
	mask  uint32
}

func newVTEPSet(ips []packet.IP4) vtepSet {
	n := uint32(4)
	for n < uint32(2*len(ips)) {
		n <<= 1
	}
	s := vtepSet{slots: make([]uint32, n), mask: n - 1}
	for _, ip := range ips {
		v := ip.Uint32()
		if v == 0 {
			continue
		}
		for i := vtepHash(v) & s.mask; ; i = (i + 1) & s.mask {
			if s.slots[i] == 0 || s.slots[i] == v {
				s.slots[i] = v
				break
			}
		}
	}
	return s
}

func vtepHash(v uint32) uint32 { return (v * 0x9e3779b1) >> 7 }

// has reports whether ip is in the set.
func (s *vtepSet) has(ip packet.IP4) bool {
	v := ip.Uint32()
	if v == 0 || len(s.slots) == 0 {
		return false
	}
	for i := vtepHash(v) & s.mask; ; i = (i + 1) & s.mask {
		switch s.slots[i] {
		case v:
			return true
		case 0:
			return false
		}
	}
}
