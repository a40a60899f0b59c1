package neigh

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/packet"
)

func TestStateApplyBuild(t *testing.T) {
	links := map[int]string{2: "eth0"}
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	up := func(typ uint16, link, state int, ip string, hw net.HardwareAddr) netlink.NeighUpdate {
		return netlink.NeighUpdate{Type: typ, Neigh: netlink.Neigh{
			LinkIndex: link, Family: netlink.FAMILY_V4, State: state, IP: net.ParseIP(ip), HardwareAddr: hw}}
	}
	s := newState()
	s.via[ip4("198.51.100.9").Addr()] = ip4("192.0.2.1").Addr()
	for _, c := range []struct {
		name    string
		u       netlink.NeighUpdate
		changed bool
		want    map[string]bool // ip → present after
	}{
		{"reachable", up(unix.RTM_NEWNEIGH, 2, netlink.NUD_REACHABLE, "192.0.2.1", mac), true,
			map[string]bool{"192.0.2.1": true, "198.51.100.9": true}},
		{"same again", up(unix.RTM_NEWNEIGH, 2, netlink.NUD_STALE, "192.0.2.1", mac), false,
			map[string]bool{"192.0.2.1": true}},
		{"other link", up(unix.RTM_NEWNEIGH, 3, netlink.NUD_REACHABLE, "192.0.2.5", mac), false,
			map[string]bool{"192.0.2.5": false}},
		{"incomplete", up(unix.RTM_NEWNEIGH, 2, netlink.NUD_INCOMPLETE, "192.0.2.6", nil), false,
			map[string]bool{"192.0.2.6": false}},
		{"failed replaces", up(unix.RTM_NEWNEIGH, 2, netlink.NUD_FAILED, "192.0.2.1", mac), true,
			map[string]bool{"192.0.2.1": false, "198.51.100.9": false}},
		{"permanent", up(unix.RTM_NEWNEIGH, 2, netlink.NUD_PERMANENT, "192.0.2.7", mac), true,
			map[string]bool{"192.0.2.7": true}},
		{"deleted", up(unix.RTM_DELNEIGH, 2, netlink.NUD_PERMANENT, "192.0.2.7", mac), true,
			map[string]bool{"192.0.2.7": false}},
	} {
		if got := s.apply(c.u, links); got != c.changed {
			t.Errorf("%s: changed = %v, want %v", c.name, got, c.changed)
		}
		m := s.build().v4
		for ip, want := range c.want {
			got, ok := m[ip4(ip)]
			if ok != want || (ok && got != packet.MAC(mac)) {
				t.Errorf("%s: %s → %v, %v; want present=%v", c.name, ip, got, ok, want)
			}
		}
	}
}
