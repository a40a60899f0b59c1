package nat

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// The seed's addresses (see DESIGN.md and ovn-issue-207).
var (
	vmIP     = packet.MustIP4("10.199.100.10")
	peerIP   = packet.MustIP4("172.31.6.24")
	snatIP   = packet.MustIP4("123.123.123.123")
	routerIP = packet.MustIP4("198.51.100.1")
)

const snatZone = 16

// takenSet is a fake conntrack.Taken: the set of tuples in use.
type takenSet map[conntrack.Tuple]bool

func (s takenSet) Taken(t conntrack.Tuple) bool { return s[t] }

// commit records both tuples of a conn, as conntrack would.
func (s takenSet) commit(orig, reply conntrack.Tuple) {
	s[orig] = true
	s[reply] = true
}

// takenFunc adapts a predicate.
type takenFunc func(conntrack.Tuple) bool

func (f takenFunc) Taken(t conntrack.Tuple) bool { return f(t) }

var noneTaken = takenFunc(func(conntrack.Tuple) bool { return false })

func ipOf(a packet.IP4) net.IP { return net.IPv4(a[0], a[1], a[2], a[3]).To4() }

func ipLayer(src, dst packet.IP4, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{
		Version: 4, IHL: 5, TTL: 62, Id: 0x4d2, Flags: layers.IPv4DontFragment,
		Protocol: proto, SrcIP: ipOf(src), DstIP: ipOf(dst),
	}
}

// build serialises eth/ip/l4... with gopacket, computing every checksum
// and length, so test packets never depend on our own checksum code.
func build(tb testing.TB, ip *layers.IPv4, rest ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{0, 0, 0x19, 0x91, 0, 0x10},
		DstMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 1},
		EthernetType: layers.EthernetTypeIPv4,
	}
	for _, l := range rest {
		if c, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			if err := c.SetNetworkLayerForChecksum(ip); err != nil {
				tb.Fatal(err)
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, append([]gopacket.SerializableLayer{eth, ip}, rest...)...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func udpFrame(tb testing.TB, src packet.IP4, sport uint16, dst packet.IP4, dport uint16, payload []byte) []byte {
	return build(tb, ipLayer(src, dst, layers.IPProtocolUDP),
		&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload(payload))
}

func tcpFrame(tb testing.TB, src packet.IP4, sport uint16, dst packet.IP4, dport uint16, payload []byte) []byte {
	return build(tb, ipLayer(src, dst, layers.IPProtocolTCP),
		&layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 0x01020304,
			Ack: 0x0a0b0c0d, ACK: true, PSH: true, Window: 502, Options: []layers.TCPOption{
				{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
				{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
			}}, gopacket.Payload(payload))
}

func echoFrame(tb testing.TB, src, dst packet.IP4, typ uint8, id, seq uint16) []byte {
	return build(tb, ipLayer(src, dst, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq},
		gopacket.Payload([]byte("abcdefghijklmnopqrstuvwxyz0123456789")))
}

// icmpErrFrame wraps quote (an IP datagram, possibly truncated) in an ICMP
// error from src to dst.
func icmpErrFrame(tb testing.TB, src, dst packet.IP4, typ, code uint8, quote []byte) []byte {
	return build(tb, ipLayer(src, dst, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}, gopacket.Payload(quote))
}

func decode(tb testing.TB, frame []byte) *packet.Parsed {
	tb.Helper()
	var p packet.Parsed
	if r := p.Decode(frame); r != packet.OK && r != packet.Fragment {
		tb.Fatalf("decode: %v", r)
	}
	return &p
}

// naiveSum is RFC 1071 written the slow, obvious way, independent of
// package packet: the folded one's-complement sum of the parts.
func naiveSum(parts ...[]byte) uint16 {
	var s uint64
	for _, b := range parts {
		for i := 0; i < len(b); i += 2 {
			w := uint64(b[i]) << 8
			if i+1 < len(b) {
				w |= uint64(b[i+1])
			}
			s += w
		}
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func pseudo(ip []byte, l4len int) []byte {
	ph := make([]byte, 12)
	copy(ph[0:8], ip[12:20])
	ph[9] = ip[9]
	binary.BigEndian.PutUint16(ph[10:], uint16(l4len))
	return ph
}

// checkFrame verifies every checksum of an Ethernet/IPv4 frame twice: with
// naiveSum, and by letting gopacket decode the frame, re-serialise it with
// freshly computed checksums and comparing byte for byte. ICMP errors also
// get their quoted IP header (and a complete quoted UDP datagram) checked.
func checkFrame(tb testing.TB, frame []byte) {
	tb.Helper()
	ip := frame[14:]
	hl := int(ip[0]&15) * 4
	tl := int(binary.BigEndian.Uint16(ip[2:]))
	ip = ip[:tl]
	if s := naiveSum(ip[:hl]); s != 0xffff {
		tb.Errorf("IPv4 header checksum does not verify (sum %#04x)", s)
	}
	l4 := ip[hl:]
	frag := binary.BigEndian.Uint16(ip[6:]) & 0x1fff
	if frag == 0 {
		switch ip[9] {
		case packet.ProtoTCP:
			if s := naiveSum(pseudo(ip, len(l4)), l4); s != 0xffff {
				tb.Errorf("TCP checksum does not verify (sum %#04x)", s)
			}
		case packet.ProtoUDP:
			if c := binary.BigEndian.Uint16(l4[6:]); c != 0 {
				if s := naiveSum(pseudo(ip, len(l4)), l4); s != 0xffff {
					tb.Errorf("UDP checksum does not verify (sum %#04x)", s)
				}
			}
		case packet.ProtoICMP:
			if s := naiveSum(l4); s != 0xffff {
				tb.Errorf("ICMP checksum does not verify (sum %#04x)", s)
			}
			if packet.IsError(l4[0]) {
				checkQuote(tb, l4[8:])
			}
		}
	}
	reserialise(tb, frame[:14+tl])
}

func checkQuote(tb testing.TB, q []byte) {
	tb.Helper()
	hl := int(q[0]&15) * 4
	if s := naiveSum(q[:hl]); s != 0xffff {
		tb.Errorf("quoted IPv4 header checksum does not verify (sum %#04x)", s)
	}
	tl := int(binary.BigEndian.Uint16(q[2:]))
	if q[9] == packet.ProtoUDP && tl == len(q) && binary.BigEndian.Uint16(q[hl+6:]) != 0 {
		if s := naiveSum(pseudo(q, tl-hl), q[hl:]); s != 0xffff {
			tb.Errorf("quoted UDP checksum does not verify (sum %#04x)", s)
		}
	}
	if q[9] == packet.ProtoICMP && tl == len(q) {
		if s := naiveSum(q[hl:]); s != 0xffff {
			tb.Errorf("quoted ICMP checksum does not verify (sum %#04x)", s)
		}
	}
	// gopacket's view of the quoted header, re-serialised.
	var qip layers.IPv4
	if err := qip.DecodeFromBytes(q, gopacket.NilDecodeFeedback); err != nil {
		tb.Errorf("gopacket: quoted IPv4: %v", err)
		return
	}
	buf := gopacket.NewSerializeBuffer()
	if err := qip.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), q[:hl]) {
		tb.Errorf("gopacket recomputes quoted IPv4 header\n got %x\nwant %x", q[:hl], buf.Bytes())
	}
}

func reserialise(tb testing.TB, frame []byte) {
	tb.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		tb.Fatalf("gopacket decode: %v", el.Error())
	}
	eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ls := []gopacket.SerializableLayer{eth, ip}
	var udpZero bool
	switch {
	case ip.FragOffset != 0:
		ls = append(ls, gopacket.Payload(ip.Payload))
	case pkt.Layer(layers.LayerTypeTCP) != nil:
		l := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		_ = l.SetNetworkLayerForChecksum(ip)
		ls = append(ls, l, gopacket.Payload(l.Payload))
	case pkt.Layer(layers.LayerTypeUDP) != nil:
		l := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		_ = l.SetNetworkLayerForChecksum(ip)
		udpZero = l.Checksum == 0
		ls = append(ls, l, gopacket.Payload(l.Payload))
	case pkt.Layer(layers.LayerTypeICMPv4) != nil:
		l := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		ls = append(ls, l, gopacket.Payload(l.Payload))
	default:
		ls = append(ls, gopacket.Payload(ip.Payload))
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	got := buf.Bytes()
	if len(got) == 60 && len(frame) < 60 {
		got = got[:len(frame)] // gopacket pads to the Ethernet minimum
	}
	if len(got) != len(frame) {
		tb.Fatalf("gopacket re-serialised %d bytes, frame has %d", len(got), len(frame))
	}
	if ip.Protocol == layers.IPProtocolUDP && ip.FragOffset == 0 {
		o := 14 + int(ip.IHL)*4 + 6
		switch {
		case udpZero: // "no checksum": nothing to compare
			copy(got[o:o+2], frame[o:o+2])
		case binary.BigEndian.Uint16(got[o:]) == 0: // gopacket skips RFC 768's 0 -> 0xFFFF
			got[o], got[o+1] = 0xff, 0xff
		}
	}
	if !bytes.Equal(got, frame) {
		tb.Errorf("gopacket recomputes a different frame\n got %x\nwant %x", frame, got)
	}
}

func tuple(src packet.IP4, sport uint16, dst packet.IP4, dport uint16, proto uint8, zone uint16) conntrack.Tuple {
	return conntrack.Tuple{Src: src, Dst: dst, SrcPort: sport, DstPort: dport, Proto: proto, Zone: zone}
}

func mustSNAT(tb testing.TB, prefix string, min, max uint16, ext ...packet.IP4) *SNAT {
	tb.Helper()
	s, err := NewSNAT(mustPrefix(prefix), ext, min, max)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
