package packet

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestICMPv6View reads gopacket-built messages and checks the checksums
// gopacket computed with ComputeChecksum.
func TestICMPv6View(t *testing.T) {
	mac := MustMAC("52:54:00:12:34:56")
	target := MustIP6("2001:db8:31::1")
	cases := []struct {
		name  string
		l     []gopacket.SerializableLayer
		check func(t *testing.T, c ICMPv6)
	}{
		{"echo reply", []gopacket.SerializableLayer{&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6EchoReply, 0)}, &layers.ICMPv6Echo{Identifier: 0x1234, SeqNumber: 9}, gopacket.Payload("ping")},
			func(t *testing.T, c ICMPv6) {
				if !IsEcho6(c.Type()) || IsError6(c.Type()) || c.ID() != 0x1234 || c.Seq() != 9 || string(c.Payload()[0:4]) != "ping" {
					t.Fatalf("echo %x", []byte(c))
				}
			}},
		{"packet too big", []gopacket.SerializableLayer{&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6PacketTooBig, 0)}, gopacket.Payload([]byte{0, 0, 0x05, 0x00, 0x60, 0, 0, 0})},
			func(t *testing.T, c ICMPv6) {
				if !IsError6(c.Type()) || c.MTU() != 1280 || c.Payload()[0] != 0x60 {
					t.Fatalf("ptb %x", []byte(c))
				}
			}},
		{"neighbour solicitation", []gopacket.SerializableLayer{&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6NeighborSolicit, 0)},
			&layers.ICMPv6NeighborSolicitation{TargetAddress: net.IP(target[:]), Options: layers.ICMPv6Options{
				{Type: layers.ICMPv6OptMTU, Data: []byte{0, 0, 0, 0, 5, 0xdc}},
				{Type: layers.ICMPv6OptSourceAddress, Data: mac[:]}}}},
			func(t *testing.T, c ICMPv6) {
				m, ok, bad := c.NDLinkAddr(NDOptSourceLinkAddr)
				if c.NDTarget() != target || !ok || bad || m != mac {
					t.Fatalf("NS target %v slla %v %v %v", c.NDTarget(), m, ok, bad)
				}
				if _, ok, bad := c.NDLinkAddr(NDOptTargetLinkAddr); ok || bad {
					t.Fatal("NS has no target link-layer option")
				}
			}},
		{"neighbour advertisement", []gopacket.SerializableLayer{&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6NeighborAdvert, 0)},
			&layers.ICMPv6NeighborAdvertisement{Flags: 0x60, TargetAddress: net.IP(target[:]), Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: mac[:]}}}},
			func(t *testing.T, c ICMPv6) {
				m, ok, _ := c.NDLinkAddr(NDOptTargetLinkAddr)
				if c.NAFlags() != NAFlagSolicited|NAFlagOverride || c.NDTarget() != target || !ok || m != mac {
					t.Fatalf("NA %x", []byte(c))
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.l[0].(*layers.ICMPv6).SetNetworkLayerForChecksum(ipv6(layers.IPProtocolICMPv6))
			c := ICMPv6(build(t, tc.l...))
			tc.check(t, c)
			want := c.Checksum()
			if !L4ChecksumValid6(c, v6Src, v6Dst, ProtoICMPv6) {
				t.Fatal("gopacket's checksum does not verify")
			}
			if got := c.ComputeChecksum(v6Src, v6Dst); got != want {
				t.Fatalf("ComputeChecksum %#04x, gopacket %#04x", got, want)
			}
		})
	}
}

// TestNDBuild writes an NA with the view's setters and checks gopacket
// reads it back with a valid checksum.
func TestNDBuild(t *testing.T) {
	mac := MustMAC("52:54:00:aa:bb:cc")
	c := make(ICMPv6, NDMinLen+NDOptLinkAddrLen)
	c.SetType(ICMPv6NeighborAdvert)
	c.SetCode(0)
	c.SetNAFlags(NAFlagRouter | NAFlagSolicited)
	c.SetNDTarget(v6Dst)
	PutNDLinkAddr(c.NDOptions(), NDOptTargetLinkAddr, mac)
	c.SetChecksum(c.ComputeChecksum(v6Dst, v6Src))
	f := frame6(t, nil, layers.IPProtocolICMPv6, gopacket.Payload(c))
	ip := IPv6(f[14:])
	ip.SetSrc(v6Dst)
	ip.SetDst(v6Src)
	pk := decodeGo(f)
	na, ok := pk.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if !ok || !na.Router() || !na.Solicited() || na.Override() || !na.TargetAddress.Equal(net.IP(v6Dst[:])) ||
		len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress || MAC(na.Options[0].Data) != mac {
		t.Fatalf("gopacket reads %v", pk)
	}
	if !L4ChecksumValid6(f[54:], v6Dst, v6Src, ProtoICMPv6) {
		t.Fatal("checksum")
	}
	c.SetMTU(1500)
	if c.MTU() != 1500 || c.Pointer() != 1500 {
		t.Fatal("MTU")
	}
	c.SetPointer(40)
	c.SetID(7)
	c.SetSeq(8)
	if c.ID() != 7 || c.Seq() != 8 {
		t.Fatal("ID/Seq")
	}
}

// TestNDLinkAddrMalformed: a zero-length option or one past the message is
// malformed (RFC 4861 §4.6), never a panic.
func TestNDLinkAddrMalformed(t *testing.T) {
	base := make(ICMPv6, NDMinLen)
	for _, opts := range [][]byte{{1}, {1, 0, 0, 0, 0, 0, 0, 0}, {1, 2, 0, 0, 0, 0, 0, 0}, {3, 1, 0, 0, 0, 0, 0, 0, 1, 0}} {
		c := append(append(ICMPv6(nil), base...), opts...)
		if _, ok, bad := c.NDLinkAddr(NDOptSourceLinkAddr); ok || !bad {
			t.Errorf("options %x: ok %v malformed %v", opts, ok, bad)
		}
	}
	if _, ok, bad := base.NDLinkAddr(NDOptSourceLinkAddr); ok || bad {
		t.Error("no options: absent, not malformed")
	}
}
