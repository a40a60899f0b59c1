// Package pkttest builds test frames with gopacket (lengths and checksums
// computed by gopacket, Geneve headers written by hand), so that tests
// never trust xgw's own encoders and checksum code.
//
// It is test support: only _test.go files and other test helpers import
// it. It imports nothing of xgw, so that the in-package tests of every
// package, packet and nat included, can use it; the seed's addresses and
// packets built on it are in package seedtest.
package pkttest

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Serialize serializes layers with gopacket, lengths and checksums
// computed, into a fresh slice.
func Serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// Decode decodes an Ethernet frame with gopacket.
func Decode(frame []byte) gopacket.Packet {
	return gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
}

// OVNOptionHdr is the header of OVN's Geneve option: class 0x0102, type
// 0x80, length one word.
var OVNOptionHdr = []byte{0x01, 0x02, 0x80, 0x01}

// GeneveHeader writes a Geneve header by hand (RFC 8926 §3.4): version 0,
// protocol Transparent Ethernet Bridging, VNI vni, the options in extra
// (already encoded) and then OVN's option with inport<<16|outport. The C
// bit is set, as OVS sets it: OVN's option type 0x80 is critical.
func GeneveHeader(vni uint32, inport, outport uint16, extra ...[]byte) []byte {
	var opts []byte
	for _, o := range extra {
		opts = append(opts, o...)
	}
	opts = append(opts, OVNOptionHdr...)
	opts = binary.BigEndian.AppendUint32(opts, uint32(inport)<<16|uint32(outport))
	g := make([]byte, 8, 8+len(opts))
	g[0] = byte(len(opts) / 4) // version 0, option length in words
	g[1] = 0x40                // C: a critical option is present
	binary.BigEndian.PutUint16(g[2:], 0x6558)
	binary.BigEndian.PutUint32(g[4:], vni<<8)
	return append(g, opts...)
}

// GeneveIPv6 wraps inner in Ethernet/IPv6/UDP/Geneve from src to dst
// (hop limit 64, UDP source port sport, to 6081), the UDP checksum over
// the IPv6 pseudo-header computed by gopacket: OVN over an IPv6 underlay.
func GeneveIPv6(tb testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst net.IP, sport uint16, vni uint32, inport, outport uint16, inner []byte) []byte {
	tb.Helper()
	g := append(GeneveHeader(vni, inport, outport), inner...)
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src, DstIP: dst}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 6081}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatal(err)
	}
	return Serialize(tb, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}, ip, udp, gopacket.Payload(g))
}
