package gateway

// Gratuitous ARP for the NAT addresses. xdp_gw steers ARP requests for a
// NAT address to xgw, which answers them as the owning router's external
// port (datapath/arp_external.go), as OVN's gateway router does. OVN also
// announces the addresses, so that the upstream network learns them (or
// learns that they moved) without asking: xgw sends one gratuitous ARP per
// address on start, and for each address a reload adds, out of the
// external interface through a packet socket (AF_PACKET: dist/xgw.service
// allows it). The form is a request (RFC 5227's announcement: sender =
// target = the address, target MAC zero) from the router's external port
// MAC, broadcast. Addresses that are the host's (a router's external port
// address shared by a SNAT rule) are the kernel's to announce. A failure
// to send is logged, never fatal: the address is still answered on
// request. NAT66 addresses are announced the same way with an
// unsolicited neighbour advertisement (na.go).

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/packet"
	"github.com/xgw-dev/xgw/route"
)

// announcer announces that an address is at mac: a gratuitous ARP for
// IPv4, an unsolicited neighbour advertisement for IPv6 (na.go).
// *garpSocket is one.
type announcer interface {
	Announce(ip packet.IP4, mac packet.MAC) error
	Announce6(ip packet.IP6, mac packet.MAC) error
}

// announcement is one address to announce.
type announcement struct {
	IP  netip.Addr
	MAC packet.MAC
}

// announcements are the announcements for addrs (NAT addresses of topo,
// either family): one per address that is not the host's, from its
// router's external MAC.
func announcements(topo *route.Topology, addrs []netip.Addr) []announcement {
	var out []announcement
	for _, a := range addrs {
		r, ok := natOwner(topo, a)
		if !ok || r.External == nil || isHostAddr(topo, a) {
			continue
		}
		out = append(out, announcement{IP: a, MAC: r.External.MAC})
	}
	return out
}

// garpFrame is a gratuitous ARP request: ip is at mac, broadcast.
func garpFrame(ip packet.IP4, mac packet.MAC) []byte {
	f := make([]byte, 60) // the minimum Ethernet frame; the rest is padding
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[12:], packet.EtherTypeARP)
	a := f[packet.EthernetLen:]
	binary.BigEndian.PutUint16(a[0:], 1) // Ethernet
	binary.BigEndian.PutUint16(a[2:], packet.EtherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	copy(a[8:14], mac[:])
	copy(a[14:18], ip[:])
	// a[18:24], the target MAC, stays zero.
	copy(a[24:28], ip[:])
	return f
}

// garpSocket is an AF_PACKET socket on the external interface.
type garpSocket struct {
	fd      int
	ifindex int
}

// openGARP opens a packet socket that sends on the interface ifname. It
// receives nothing (protocol 0).
func openGARP(ifname string) (*garpSocket, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("gratuitous ARP: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("gratuitous ARP: packet socket: %w", err)
	}
	return &garpSocket{fd: fd, ifindex: ifi.Index}, nil
}

// Announce implements announcer.
func (s *garpSocket) Announce(ip packet.IP4, mac packet.MAC) error {
	to := &unix.SockaddrLinklayer{Protocol: htons(packet.EtherTypeARP), Ifindex: s.ifindex, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(s.fd, garpFrame(ip, mac), 0, to); err != nil {
		return fmt.Errorf("send gratuitous ARP for %s: %w", ip, err)
	}
	return nil
}

func (s *garpSocket) Close() error { return unix.Close(s.fd) }

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// announce sends the gratuitous ARPs and unsolicited neighbour
// advertisements for addrs (NAT addresses of topo)
// and logs what it did; failures are logged, not returned. Safe with
// r.garp nil (no socket: nothing is announced).
func (r *reloader) announce(topo *route.Topology, addrs []netip.Addr) {
	if r.garp == nil {
		return
	}
	for _, a := range announcements(topo, addrs) {
		what, err := "gratuitous ARP", error(nil)
		if a.IP.Is4() {
			err = r.garp.Announce(packet.IP4(a.IP.As4()), a.MAC)
		} else {
			what = "unsolicited neighbour advertisement"
			err = r.garp.Announce6(a.IP.As16(), a.MAC)
		}
		if err != nil {
			r.log.Warn(what+" not sent; the address is still answered on request", "address", a.IP.String(), "err", err)
			continue
		}
		r.log.Info(what+" sent", "address", a.IP.String(), "mac", a.MAC.String())
	}
}

// announceAll announces every NAT address of the running topology: on
// start.
func (r *reloader) announceAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.announce(r.topo, natAddrs(r.topo))
}
