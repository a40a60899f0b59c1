package gateway

// Unsolicited neighbour advertisements (RFC 4861 §7.2.6) for the NAT66
// addresses: the IPv6 form of garp.go's gratuitous ARP, sent on start and
// for each NAT66 address a reload adds, from the owning router's external
// MAC to all nodes (ff02::1), through the same packet socket. The
// advertisement is what xgw answers a solicitation for the address with
// (datapath nd6External: no router flag), with the override flag set so
// that a neighbour that has the address cached takes the new MAC, and
// not the solicited one. Neighbours that have no entry for the address
// ignore it (RFC 4861), as hosts ignore a gratuitous ARP they did not
// ask for unless configured to learn from it.

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/packet"
)

// allNodes is ff02::1, the destination of an unsolicited advertisement.
var allNodes = packet.IP6{0: 0xff, 1: 0x02, 15: 1}

// naLen is the advertisement's frame: Ethernet, IPv6, the NA (RFC 4861
// §4.4) and one target link-layer address option.
const naLen = packet.EthernetLen + packet.IPv6Len + packet.NDMinLen + packet.NDOptLinkAddrLen

// naFrame is an unsolicited neighbour advertisement: ip is at mac.
func naFrame(ip packet.IP6, mac packet.MAC) []byte {
	f := make([]byte, naLen)
	dmac := allNodes.MulticastMAC()
	copy(f[0:6], dmac[:])
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[12:], packet.EtherTypeIPv6)
	h := f[packet.EthernetLen:]
	h[0] = 6 << 4
	l4 := packet.NDMinLen + packet.NDOptLinkAddrLen
	binary.BigEndian.PutUint16(h[4:], uint16(l4))
	h[6] = packet.ProtoICMPv6
	h[7] = 255 // neighbour discovery is only taken with hop limit 255
	copy(h[8:24], ip[:])
	copy(h[24:40], allNodes[:])
	m := h[packet.IPv6Len:]
	m[0] = packet.ICMPv6NeighborAdvert
	m[4] = packet.NAFlagOverride
	copy(m[8:24], ip[:])
	o := m[packet.NDMinLen:]
	o[0], o[1] = packet.NDOptTargetLinkAddr, 1 // length in units of 8 bytes
	copy(o[2:8], mac[:])
	binary.BigEndian.PutUint16(m[2:], packet.Checksum(m, packet.PseudoSum6(ip, allNodes, packet.ProtoICMPv6, uint32(l4))))
	return f
}

// Announce6 implements announcer.
func (s *garpSocket) Announce6(ip packet.IP6, mac packet.MAC) error {
	dmac := allNodes.MulticastMAC()
	to := &unix.SockaddrLinklayer{Protocol: htons(packet.EtherTypeIPv6), Ifindex: s.ifindex, Halen: 6}
	copy(to.Addr[:], dmac[:])
	if err := unix.Sendto(s.fd, naFrame(ip, mac), 0, to); err != nil {
		return fmt.Errorf("send unsolicited neighbour advertisement for %s: %w", ip, err)
	}
	return nil
}
