package packet

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/internal/pkttest"
)

var (
	v6Src = MustIP6("fd00:10:199::10")
	v6Dst = MustIP6("2001:db8:31::6:24")
)

func ipv6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, TrafficClass: 0xb8, FlowLabel: 0x12345, HopLimit: 63,
		NextHeader: next, SrcIP: net.IP(v6Src[:]), DstIP: net.IP(v6Dst[:])}
}

// ext is one extension header as a test writes it, independently of
// ext6.go (pkttest's builders).
type ext = pkttest.Ext

func hbh(n int) ext                             { return pkttest.HopByHop(n) }
func dstopts(n int) ext                         { return pkttest.DstOpts(n) }
func routing(segs int) ext                      { return pkttest.Routing(segs) }
func frag(off uint16, more bool, id uint32) ext { return pkttest.Fragment(off, more, id) }
func ah(n int) ext                              { return pkttest.AH(n) }

// frame6 builds Ethernet/IPv6/exts/l4 with gopacket (pkttest.IPv6Frame):
// l4's checksum covers the pseudo-header with the upper-layer protocol,
// and the IPv6 payload length counts the chain.
func frame6(t testing.TB, exts []ext, proto layers.IPProtocol, l4 ...gopacket.SerializableLayer) []byte {
	t.Helper()
	e := eth(layers.EthernetTypeIPv6)
	return pkttest.IPv6Frame(t, e.SrcMAC, e.DstMAC, ipv6(proto), exts, l4...)
}

func decodeGo(b []byte) gopacket.Packet { return pkttest.Decode(b) }
