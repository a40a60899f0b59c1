package neigh

import (
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// usableStates are the NUD states whose lladdr may be used to send. STALE,
// DELAY and PROBE entries are still valid addresses (the kernel is only
// re-confirming them); FAILED and INCOMPLETE ones have no address.
const usableStates = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY |
	netlink.NUD_PROBE | netlink.NUD_PERMANENT

// key names one kernel entry: the same IP may be a neighbour on two links.
// The address is either family (ARP for IPv4, neighbour discovery for
// IPv6), unmapped and without a zone.
type key struct {
	ifindex int
	ip      netip.Addr
}

// state is the working copy the watcher and resolver edit under Table.mu.
type state struct {
	kernel map[key]packet.MAC        // usable entries on mirrored links
	via    map[netip.Addr]netip.Addr // off-link destination → its gateway (same family)
}

func newState() state {
	return state{kernel: make(map[key]packet.MAC), via: make(map[netip.Addr]netip.Addr)}
}

// snapshot is what Lookup reads: one map per family, keyed by the
// datapath's fixed-size address types, so that an IPv4 lookup costs what
// it did before IPv6 existed.
type snapshot struct {
	v4 map[packet.IP4]packet.MAC
	v6 map[route.IP6]packet.MAC
}

// addrOf returns the entry's address, or false if it is not an IPv4 or
// IPv6 unicast neighbour of the right length.
func addrOf(n netlink.Neigh) (netip.Addr, bool) {
	switch n.Family {
	case netlink.FAMILY_V4:
		if ip4 := n.IP.To4(); ip4 != nil {
			return netip.AddrFrom4([4]byte(ip4)), true
		}
	case netlink.FAMILY_V6:
		if len(n.IP) == 16 && n.IP.To4() == nil {
			a := netip.AddrFrom16([16]byte(n.IP))
			return a, !a.IsMulticast()
		}
	}
	return netip.Addr{}, false
}

// apply folds one netlink event into the state and reports whether the
// state changed. Events for other links or families are ignored.
func (s *state) apply(u netlink.NeighUpdate, links map[int]string) bool {
	if _, ok := links[u.LinkIndex]; !ok {
		return false
	}
	ip, ok := addrOf(u.Neigh)
	if !ok {
		return false
	}
	k := key{ifindex: u.LinkIndex, ip: ip}
	old, had := s.kernel[k]
	if u.Type == unix.RTM_DELNEIGH || u.State&usableStates == 0 || len(u.HardwareAddr) != 6 {
		delete(s.kernel, k)
		return had
	}
	mac := packet.MAC(u.HardwareAddr)
	s.kernel[k] = mac
	return !had || old != mac
}

// build returns a fresh IP → MAC map for each family: kernel entries
// first, then off-link destinations whose gateway is resolved (a direct
// entry wins over a stale gateway mapping).
func (s *state) build() snapshot {
	m := make(map[netip.Addr]packet.MAC, len(s.kernel)+len(s.via))
	for k, mac := range s.kernel {
		m[k.ip] = mac
	}
	for dst, gw := range s.via {
		if _, direct := m[dst]; direct {
			continue
		}
		if mac, ok := m[gw]; ok {
			m[dst] = mac
		}
	}
	snap := snapshot{v4: make(map[packet.IP4]packet.MAC, len(m)), v6: make(map[route.IP6]packet.MAC)}
	for a, mac := range m {
		if a.Is4() {
			snap.v4[a.As4()] = mac
		} else {
			snap.v6[a.As16()] = mac
		}
	}
	return snap
}
