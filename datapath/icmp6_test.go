package datapath

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/internal/pkttest"
	"github.com/xgw-dev/xgw/packet"
)

// udp6 is a UDP datagram from the VM to the server with payload bytes of
// payload and hop limit hop.
func udp6(t testing.TB, src, dst packet.IP6, hop uint8, payload int, exts ...v6Ext) []byte {
	t.Helper()
	pl := make([]byte, payload)
	for i := range pl {
		pl[i] = byte(i)
	}
	return v6Frame(t, macDR, macGR, src, dst, hop, exts, layers.IPProtocolUDP, &layers.UDP{SrcPort: 40000, DstPort: 53}, gopacket.Payload(pl))
}

// echo6 is an ICMPv6 echo request from src to dst.
func echo6(t testing.TB, src, dst packet.IP6, exts ...v6Ext) []byte {
	t.Helper()
	return v6Frame(t, macDR, macGR, src, dst, 64, exts, layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)},
		&layers.ICMPv6Echo{Identifier: 0x4242, SeqNumber: 7}, gopacket.Payload("ping payload"))
}

// TestEchoReply6: an echo request to the router's own address is turned
// into the reply in place, extension headers and link padding dropped.
func TestEchoReply6(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"plain", echo6(t, v6VM, v6Router)},
		{"hop-by-hop header", echo6(t, v6VM, v6Router, v6HopByHop)},
		{"link padding", append(echo6(t, v6VM, v6Router), 0xde, 0xad, 0xbe, 0xef)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newCtx6(t)
			c := x.load(t, tc.frame, 0)
			if why := x.h.w.echoReply6(c, x.pkt.Frame()); why != DropNone {
				t.Fatalf("echoReply6: %v", why)
			}
			out := x.pkt.Frame()
			if len(out) != 14+40+8+12 {
				t.Fatalf("reply is %d bytes, want %d", len(out), 14+40+8+12)
			}
			if p := &c.parsed; p.Src6 != v6Router || p.Dst6 != v6VM || p.TTL != 255 || p.ICMPType != packet.ICMPv6EchoReply {
				t.Fatalf("parsed after: %+v", p)
			}
			pk, ip, icmp := gopacketICMP6(t, out)
			if !ip.SrcIP.Equal(ipOf(v6Router)) || !ip.DstIP.Equal(ipOf(v6VM)) || ip.HopLimit != 255 || ip.NextHeader != layers.IPProtocolICMPv6 || ip.Length != 20 {
				t.Fatalf("IPv6 %v -> %v hop %d next %v len %d", ip.SrcIP, ip.DstIP, ip.HopLimit, ip.NextHeader, ip.Length)
			}
			e, ok := pk.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
			if icmp.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoReply, 0) || !ok ||
				e.Identifier != 0x4242 || e.SeqNumber != 7 || string(icmp.Payload[4:]) != "ping payload" {
				t.Fatalf("reply %v %v", icmp.TypeCode, pk)
			}
		})
	}
}

// TestEchoReply6Refused: what the router does not answer, by reason.
func TestEchoReply6Refused(t *testing.T) {
	badSum := echo6(t, v6VM, v6Router)
	badSum[14+40+2] ^= 1
	for _, tc := range []struct {
		name  string
		frame []byte
		want  Drop
	}{
		{"from multicast", echo6(t, packet.MustIP6("ff0e::1"), v6Router), DropMartianSource6},
		{"from ::", echo6(t, packet.IP6{}, v6Router), DropMartianSource6},
		{"from v4-mapped", echo6(t, packet.MustIP6("::ffff:10.0.0.1"), v6Router), DropMartianSource6},
		{"bad checksum", badSum, DropMalformed},
		{"a fragment", v6Frame(t, macDR, macGR, v6VM, v6Router, 64, []v6Ext{v6FragHdr(0, true)}, layers.IPProtocolICMPv6,
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)},
			&layers.ICMPv6Echo{Identifier: 1}, gopacket.Payload(make([]byte, 16))), DropFragment},
		{"not an echo request", udp6(t, v6VM, v6Router, 64, 8), DropToRouter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newCtx6(t)
			c := x.load(t, tc.frame, 0)
			if why := x.h.w.echoReply6(c, x.pkt.Frame()); why != tc.want {
				t.Fatalf("echoReply6: %v, want %v", why, tc.want)
			}
		})
	}
}

// wantError6 checks that the packet in x is an ICMPv6 error typ/code from
// v6Router to to with param after the checksum, quoting quote, and returns
// nothing; gopacket decodes it and verifies its checksum.
func wantError6(t *testing.T, x *ctx6, to packet.IP6, typ, code uint8, param uint32, quote []byte) {
	t.Helper()
	out := x.pkt.Frame()
	pk, ip, icmp := gopacketICMP6(t, out)
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if eth.EthernetType != layers.EthernetTypeIPv6 || len(out) != 14+40+8+len(quote) {
		t.Fatalf("frame type %v, %d bytes, want %d", eth.EthernetType, len(out), 14+40+8+len(quote))
	}
	if !ip.SrcIP.Equal(ipOf(v6Router)) || !ip.DstIP.Equal(ipOf(to)) || ip.HopLimit != 255 ||
		ip.NextHeader != layers.IPProtocolICMPv6 || int(ip.Length) != 8+len(quote) {
		t.Fatalf("IPv6 %v -> %v hop %d next %v len %d", ip.SrcIP, ip.DstIP, ip.HopLimit, ip.NextHeader, ip.Length)
	}
	if icmp.TypeCode != layers.CreateICMPv6TypeCode(typ, code) {
		t.Fatalf("ICMPv6 %v, want %v", icmp.TypeCode, layers.CreateICMPv6TypeCode(typ, code))
	}
	body := icmp.Payload
	if got := binary.BigEndian.Uint32(body); got != param {
		t.Fatalf("word after the checksum %d, want %d", got, param)
	}
	if !bytes.Equal(body[4:], quote) {
		t.Fatalf("quote %d bytes %x..., want %d bytes %x...", len(body)-4, body[4:min(len(body), 48)], len(quote), quote[:min(len(quote), 44)])
	}
	if p := &x.h.w.ctx.parsed; p.Family != 6 || p.Dst6 != to || p.ICMPType != typ || p.TTL != 255 {
		t.Fatalf("parsed after: %+v", p)
	}
}

// TestTimeExceeded6: a datagram whose hop limit runs out is replaced by
// time exceeded from the router's address to its source, quoting the
// whole datagram (without link padding) when it fits in 1280 bytes.
func TestTimeExceeded6(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"UDP", udp6(t, v6VM, v6Server, 1, 20)},
		{"echo request", v6Frame(t, macDR, macGR, v6VM, v6Server, 1, nil, layers.IPProtocolICMPv6,
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}, &layers.ICMPv6Echo{Identifier: 3})},
		{"a later fragment", v6Frame(t, macDR, macGR, v6VM, v6Server, 1, []v6Ext{v6FragHdr(8, false)}, layers.IPProtocolUDP, gopacket.Payload(make([]byte, 30)))},
		// No ICMPv6 header to tell an error from an echo: eligible.
		{"a later fragment of ICMPv6", v6Frame(t, macDR, macGR, v6VM, v6Server, 1, []v6Ext{v6FragHdr(8, false)}, layers.IPProtocolICMPv6, gopacket.Payload(make([]byte, 30)))},
		{"from a link-local source", udp6(t, v6DRLL, v6Server, 1, 20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newCtx6(t)
			src := packet.IPv6(tc.frame[14:]).Src()
			c := x.load(t, append(append([]byte(nil), tc.frame...), 0, 0, 0), 0) // link padding
			quote := append([]byte(nil), tc.frame[14:]...)
			if why := x.h.w.timeExceeded6(c, x.pkt.Frame(), v6Router); why != DropNone {
				t.Fatalf("timeExceeded6: %v", why)
			}
			wantError6(t, x, src, packet.ICMPv6TimeExceeded, 0, 0, quote)
		})
	}
}

// TestPacketTooBig6: a datagram larger than the next link gets packet too
// big with the link's MTU (at least 1280), the quote cut so that the
// message is 1280 bytes; to a multicast destination too (RFC 4443 §2.4
// (e.3)).
func TestPacketTooBig6(t *testing.T) {
	big := udp6(t, v6VM, v6Server, 64, 1500-48)
	for _, tc := range []struct {
		name  string
		frame []byte
		mtu   int
		want  uint32
	}{
		{"1400", big, 1400, 1400},
		{"below the minimum", big, 1000, 1280},
		{"to multicast", udp6(t, v6VM, packet.MustIP6("ff0e::101"), 64, 1500-48), 1400, 1400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newCtx6(t)
			c := x.load(t, tc.frame, 0)
			if why := x.h.w.packetTooBig6(c, x.pkt.Frame(), v6Router, tc.mtu); why != DropNone {
				t.Fatalf("packetTooBig6: %v", why)
			}
			wantError6(t, x, v6VM, packet.ICMPv6PacketTooBig, 0, tc.want, tc.frame[14:14+1232])
			if x.pkt.Len-14 != 1280 {
				t.Fatalf("message %d bytes, want 1280", x.pkt.Len-14)
			}
		})
	}
}

// TestDestUnreachable6: each code the router may send.
func TestDestUnreachable6(t *testing.T) {
	for _, code := range []uint8{icmp6CodeNoRoute, icmp6CodeBeyondScope, icmp6CodeAddrUnreach, icmp6CodePortUnreach} {
		x := newCtx6(t)
		f := udp6(t, v6VM, v6Server, 64, 10)
		c := x.load(t, f, 0)
		if why := x.h.w.destUnreachable6(c, x.pkt.Frame(), v6Router, code, DropNoRoute); why != DropNone {
			t.Fatalf("code %d: %v", code, why)
		}
		wantError6(t, x, v6VM, packet.ICMPv6DestUnreachable, code, 0, f[14:])
	}
}

// TestICMP6ErrorNotSent: RFC 4443 §2.4 (e): never about an error or a
// redirect, never for a multicast destination or link-layer multicast
// (but packet too big and unknown-option parameter problem), never to a
// source that is no single node; the packet is dropped by the caller's
// reason, untouched.
func TestICMP6ErrorNotSent(t *testing.T) {
	ptb := v6Frame(t, macDR, macGR, v6VM, v6Server, 1, nil, layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypePacketTooBig, 0)}, gopacket.Payload(make([]byte, 52)))
	redirect := v6Frame(t, macDR, macGR, v6VM, v6Server, 1, nil, layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeRedirect, 0)}, gopacket.Payload(make([]byte, 36)))
	l2mcast := udp6(t, v6VM, v6Server, 1, 8)
	copy(l2mcast[0:6], []byte{0x33, 0x33, 0, 0, 0, 1})
	for _, tc := range []struct {
		name  string
		frame []byte
		typ   uint8
		code  uint8
	}{
		{"about a packet too big", ptb, packet.ICMPv6TimeExceeded, 0},
		{"about a redirect", redirect, packet.ICMPv6TimeExceeded, 0},
		{"to a multicast destination", udp6(t, v6VM, packet.MustIP6("ff0e::101"), 1, 8), packet.ICMPv6TimeExceeded, 0},
		{"sent to link-layer multicast", l2mcast, packet.ICMPv6TimeExceeded, 0},
		{"unreachable to multicast", udp6(t, v6VM, packet.MustIP6("ff05::2"), 1, 8), packet.ICMPv6DestUnreachable, icmp6CodeNoRoute},
		{"from ::", udp6(t, packet.IP6{}, v6Server, 1, 8), packet.ICMPv6TimeExceeded, 0},
		{"from multicast", udp6(t, packet.MustIP6("ff02::1"), v6Server, 1, 8), packet.ICMPv6PacketTooBig, 0},
		{"from ::1", udp6(t, packet.MustIP6("::1"), v6Server, 1, 8), packet.ICMPv6TimeExceeded, 0},
		{"from v4-mapped", udp6(t, packet.MustIP6("::ffff:1.2.3.4"), v6Server, 1, 8), packet.ICMPv6TimeExceeded, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newCtx6(t)
			c := x.load(t, tc.frame, 0)
			const silent = DropTTL
			if why := x.h.w.icmp6Error(c, x.pkt.Frame(), v6Router, tc.typ, tc.code, 0, silent); why != silent {
				t.Fatalf("icmp6Error: %v, want the silent reason %v", why, silent)
			}
			if !bytes.Equal(x.pkt.Frame(), tc.frame) {
				t.Fatal("the refused packet was changed")
			}
		})
	}
	// A port without an IPv6 address has nothing to send from.
	x := newCtx6(t)
	c := x.load(t, udp6(t, v6VM, v6Server, 1, 8), 0)
	if why := x.h.w.timeExceeded6(c, x.pkt.Frame(), packet.IP6{}); why != DropTTL {
		t.Fatalf("from ::: %v, want ttl-exceeded", why)
	}
	// The exceptions: packet too big and unknown-option parameter problem
	// go to a multicast destination and through link-layer multicast.
	for _, typ := range []uint8{packet.ICMPv6PacketTooBig, packet.ICMPv6ParamProblem} {
		x := newCtx6(t)
		c := x.load(t, l2mcast, 0)
		code := uint8(0)
		if typ == packet.ICMPv6ParamProblem {
			code = icmp6CodeUnknownOption
		}
		if why := x.h.w.icmp6Error(c, x.pkt.Frame(), v6Router, typ, code, 1280, DropTTL); why != DropNone {
			t.Fatalf("type %d through link-layer multicast: %v", typ, why)
		}
	}
}

// TestICMP6ErrorRoom: the quote is cut to what the buffer holds; with no
// room for even the invoking IPv6 header, no message.
func TestICMP6ErrorRoom(t *testing.T) {
	f := udp6(t, v6VM, v6Server, 1, 200)
	x := newCtx6(t)
	c := x.load(t, f, headroom+len(f)) // no tailroom: 48 bytes short
	if why := x.h.w.timeExceeded6(c, x.pkt.Frame(), v6Router); why != DropNone {
		t.Fatal(why)
	}
	wantError6(t, x, v6VM, packet.ICMPv6TimeExceeded, 0, 0, f[14:len(f)-48])

	small := udp6(t, v6VM, v6Server, 1, 0) // 62 bytes: the message needs 102
	x = newCtx6(t)
	c = x.load(t, small, headroom+len(small)+39)
	if why := x.h.w.timeExceeded6(c, x.pkt.Frame(), v6Router); why != DropTTL {
		t.Fatalf("no room for the quoted header: %v, want ttl-exceeded", why)
	}
}

// TestICMP6RateLimited: IPv6 sources get the IPv4 messages' buckets and
// rate: burst messages, then one per 1/rate; another source has its own.
func TestICMP6RateLimited(t *testing.T) {
	x := newCtx6(t)
	x.h.topo.ICMPRate, x.h.topo.ICMPBurst = 10, 3
	if err := x.h.pl.SetTopology(x.h.topo); err != nil {
		t.Fatal(err)
	}
	f := udp6(t, v6VM, v6Server, 1, 8)
	send := func(frame []byte) Drop {
		c := x.load(t, frame, 0)
		return x.h.w.timeExceeded6(c, x.pkt.Frame(), v6Router)
	}
	for i := range 3 {
		if why := send(f); why != DropNone {
			t.Fatalf("message %d of the burst: %v", i, why)
		}
	}
	if why := send(f); why != DropICMPRateLimited {
		t.Fatalf("over the burst: %v", why)
	}
	// Echo replies take from the same bucket.
	if why := x.h.w.echoReply6(x.load(t, echo6(t, v6VM, v6Router), 0), x.pkt.Frame()); why != DropICMPRateLimited {
		t.Fatalf("echo over the burst: %v", why)
	}
	x.h.now += 100_000_000
	if why := send(f); why != DropNone {
		t.Fatalf("a token later: %v", why)
	}
	if why := send(udp6(t, packet.MustIP6("fd00:10:199::11"), v6Server, 1, 8)); why != DropNone {
		t.Fatalf("another source: %v", why)
	}
	// The IPv6 keys sit in 240/4, which no IPv4 source the router answers
	// can have, so the families never share a bucket.
	for _, a := range []packet.IP6{v6VM, {}, packet.MustIP6("::ffff:10.199.100.10")} {
		if k := limitKey6(a); k[0]&0xf0 != 0xf0 || !martian(k) {
			t.Fatalf("key of %v is %v, not in 240/4", a, k)
		}
	}
}

// TestICMP6Allocs: echo replies and errors allocate nothing.
func TestICMP6Allocs(t *testing.T) {
	x := newCtx6(t)
	x.h.topo.ICMPRate, x.h.topo.ICMPBurst = 1<<30, 1<<30
	if err := x.h.pl.SetTopology(x.h.topo); err != nil {
		t.Fatal(err)
	}
	echo := echo6(t, v6VM, v6Router)
	udp := udp6(t, v6VM, v6Server, 1, 100)
	var why Drop
	allocs := testing.AllocsPerRun(200, func() {
		c := x.load(t, echo, 0)
		why |= x.h.w.echoReply6(c, x.pkt.Frame())
		c = x.load(t, udp, 0)
		why |= x.h.w.timeExceeded6(c, x.pkt.Frame(), v6Router)
		c = x.load(t, udp, 0)
		why |= x.h.w.packetTooBig6(c, x.pkt.Frame(), v6Router, 1400)
	})
	if why != DropNone {
		t.Fatalf("a message was refused: %v", why)
	}
	if allocs != 0 {
		t.Fatalf("%v allocs", allocs)
	}
}

// FuzzICMP6Error: for any IPv6 frame, an error is refused by
// icmp6ErrorAllowed, or putICMP6Error writes a message that decodes and
// verifies, is at most 1280 bytes of IPv6, goes to the frame's source and
// quotes the start of its datagram; never a write past the buffer.
func FuzzICMP6Error(f *testing.F) {
	f.Add(udp6(f, v6VM, v6Server, 1, 20), uint8(packet.ICMPv6TimeExceeded), uint16(0))
	f.Add(udp6(f, v6VM, v6Server, 64, 1452), uint8(packet.ICMPv6PacketTooBig), uint16(1400))
	f.Add(echo6(f, v6VM, v6Router, v6HopByHop), uint8(packet.ICMPv6DestUnreachable), uint16(40))
	f.Fuzz(func(t *testing.T, frame []byte, typ uint8, room uint16) {
		var p packet.Parsed
		if r := p.DecodeDual(frame); (r != packet.OK && r != packet.Fragment) || p.Family != 6 {
			return
		}
		if !icmp6ErrorAllowed(frame, &p, typ, 0) {
			return
		}
		src := p.Src6
		buf := make([]byte, len(frame)+int(room))
		copy(buf, frame)
		datagram := append([]byte(nil), frame[p.L3Off:p.End]...)
		n := putICMP6Error(buf, &p, v6Router, typ, 0, 1280)
		if n == 0 {
			if len(buf) >= icmp6Head+packet.IPv6Len && len(datagram) >= packet.IPv6Len {
				t.Fatalf("refused with room %d for a %d-byte datagram", len(buf), len(datagram))
			}
			return
		}
		var q packet.Parsed
		if r := q.DecodeDual(buf[:n]); r != packet.OK {
			t.Fatalf("message decodes as %v", r)
		}
		msg := buf[q.L4Off:q.End]
		if n-packet.EthernetLen > icmp6MaxLen || q.Dst6 != src || q.Src6 != v6Router || q.ICMPType != typ ||
			!packet.L4ChecksumValid6(msg, q.Src6, q.Dst6, packet.ProtoICMPv6) || !bytes.HasPrefix(datagram, msg[packet.ICMPv6Len:]) {
			t.Fatalf("message %x", buf[:n])
		}
	})
}

// v6DstOpts is a destination options header of 16 bytes, PadN only.
var v6DstOpts = pkttest.DstOpts(2)

// TestICMP6ErrorQuotesExtHeaders: RFC 4443 §2.4 (c): the errors the router
// generates quote the invoking packet from its fixed header on, extension
// headers included, as far as the message fits in 1280 bytes: whole when
// it fits (time exceeded, unreachable), cut at 1232 bytes otherwise
// (packet too big).
func TestICMP6ErrorQuotesExtHeaders(t *testing.T) {
	exts := []v6Ext{v6HopByHop, v6DstOpts}
	small := udp6(t, v6VM, v6Server, 1, 100, exts...)
	big := udp6(t, v6VM, v6Server, 64, 1500-48-24, exts...)
	if len(big)-14 != 1500 {
		t.Fatalf("big datagram %d bytes, want 1500", len(big)-14)
	}
	x := newCtx6(t)
	c := x.load(t, small, 0)
	if why := x.h.w.timeExceeded6(c, x.pkt.Frame(), v6Router); why != DropNone {
		t.Fatalf("timeExceeded6: %v", why)
	}
	wantError6(t, x, v6VM, packet.ICMPv6TimeExceeded, 0, 0, small[14:])

	x = newCtx6(t)
	c = x.load(t, small, 0)
	if why := x.h.w.destUnreachable6(c, x.pkt.Frame(), v6Router, icmp6CodeAddrUnreach, DropNoRoute); why != DropNone {
		t.Fatalf("destUnreachable6: %v", why)
	}
	wantError6(t, x, v6VM, packet.ICMPv6DestUnreachable, icmp6CodeAddrUnreach, 0, small[14:])

	x = newCtx6(t)
	c = x.load(t, big, 0)
	if why := x.h.w.packetTooBig6(c, x.pkt.Frame(), v6Router, 1400); why != DropNone {
		t.Fatalf("packetTooBig6: %v", why)
	}
	wantError6(t, x, v6VM, packet.ICMPv6PacketTooBig, 0, 1400, big[14:14+1232])
	if x.pkt.Len-14 != 1280 {
		t.Fatalf("message %d bytes, want 1280", x.pkt.Len-14)
	}
	// The quote keeps the chain as sent: hop-by-hop, then destination
	// options, then UDP.
	q := x.pkt.Frame()[14+40+8:]
	if q[6] != packet.ProtoHopByHop || q[40] != packet.ProtoDstOpts || q[48] != packet.ProtoUDP {
		t.Fatalf("quoted chain %d -> %d -> %d", q[6], q[40], q[48])
	}
}
