package neigh

import (
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/packet"
)

// usableStates are the NUD states whose lladdr may be used to send. STALE,
// DELAY and PROBE entries are still valid addresses (the kernel is only
// re-confirming them); FAILED and INCOMPLETE ones have no address.
const usableStates = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY |
	netlink.NUD_PROBE | netlink.NUD_PERMANENT

// key names one kernel entry: the same IP may be a neighbour on two links.
type key struct {
	ifindex int
	ip      packet.IP4
}

// state is the working copy the watcher and resolver edit under Table.mu.
type state struct {
	kernel map[key]packet.MAC        // usable entries on mirrored links
	via    map[packet.IP4]packet.IP4 // off-link destination → its gateway
}

func newState() state {
	return state{kernel: make(map[key]packet.MAC), via: make(map[packet.IP4]packet.IP4)}
}

// apply folds one netlink event into the state and reports whether the
// state changed. Events for other links or families are ignored.
func (s *state) apply(u netlink.NeighUpdate, links map[int]string) bool {
	if u.Family != netlink.FAMILY_V4 {
		return false
	}
	if _, ok := links[u.LinkIndex]; !ok {
		return false
	}
	ip4 := u.IP.To4()
	if ip4 == nil {
		return false
	}
	k := key{ifindex: u.LinkIndex, ip: packet.IP4(ip4)}
	old, had := s.kernel[k]
	if u.Type == unix.RTM_DELNEIGH || u.State&usableStates == 0 || len(u.HardwareAddr) != 6 {
		delete(s.kernel, k)
		return had
	}
	mac := packet.MAC(u.HardwareAddr)
	s.kernel[k] = mac
	return !had || old != mac
}

// build returns a fresh IP → MAC map: kernel entries first, then off-link
// destinations whose gateway is resolved (a direct entry wins over a
// stale gateway mapping).
func (s *state) build() map[packet.IP4]packet.MAC {
	m := make(map[packet.IP4]packet.MAC, len(s.kernel)+len(s.via))
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
	return m
}
