package geneve

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/packet"
)

// TestDecapDual6 decaps gopacket-built Geneve over IPv6, with either
// overlay, tagged or not, and compares with gopacket's view.
func TestDecapDual6(t *testing.T) {
	gen := geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{ovnTLV(1, 2)})
	for _, vlan := range []bool{false, true} {
		for name, inner := range map[string][]byte{"v4 overlay": innerFrame(t, 32), "v6 overlay": innerFrame6(t, 32)} {
			f := outerFrame6(t, vlan, true, 0, nil, gen, inner)
			var d Decapped
			d.OuterSrc = hvIP // stale IPv4 state must not survive
			if r := DecapDual(f, &d); r != OK {
				t.Fatalf("%s vlan=%v: %v", name, vlan, r)
			}
			pk := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			ip := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			udp := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
			g := pk.Layer(layers.LayerTypeGeneve).(*layers.Geneve)
			l2 := 14
			if vlan {
				l2 = 18
			}
			want := Decapped{OuterSrcMAC: hvMAC, SrcPort: uint16(udp.SrcPort), VNI: g.VNI, HasOVN: true, InPort: 1, OutPort: 2,
				InnerOff: l2 + 40 + 8 + 16, End: len(f), UDPOff: l2 + 40, UDPChecksum: udp.Checksum,
				IPv6: true, OuterSrc6: packet.IP6(ip.SrcIP), OuterDst6: packet.IP6(ip.DstIP)}
			if d != want {
				t.Fatalf("%s vlan=%v:\n got %+v\nwant %+v", name, vlan, d, want)
			}
			if !bytes.Equal(f[d.InnerOff:d.End], inner) || !bytes.Equal(g.LayerPayload(), inner) {
				t.Fatalf("%s: inner frame differs", name)
			}
			if !VerifyUDPChecksum(f, &d) {
				t.Fatalf("%s: gopacket's UDP checksum does not verify", name)
			}
			f[len(f)-1] ^= 0x40
			if VerifyUDPChecksum(f, &d) {
				t.Fatalf("%s: corrupted payload verifies", name)
			}
			f[len(f)-1] ^= 0x40
			var p packet.Parsed
			if r := p.DecodeDual(f[d.InnerOff:d.End]); r != packet.OK {
				t.Fatalf("%s: inner decodes as %v", name, r)
			}
			// Decap stays IPv4-only: an IPv6 underlay is not its business.
			var d4 Decapped
			if r := Decap(f, &d4); r != NotGeneve {
				t.Fatalf("Decap on an IPv6 underlay: %v, want not-geneve", r)
			}
		}
	}
}

// TestDecapDualIPv4SameAsDecap: for IPv4 DecapDual is Decap, and it clears
// what an earlier IPv6 frame left in the slot.
func TestDecapDualIPv4SameAsDecap(t *testing.T) {
	f := seedFrame(t)
	var a, b Decapped
	b.IPv6, b.OuterSrc6 = true, hvIP6
	ra, rb := Decap(f, &a), DecapDual(f, &b)
	if ra != OK || rb != OK || a != b || b.IPv6 {
		t.Fatalf("Decap %v %+v\nDecapDual %v %+v", ra, a, rb, b)
	}
	if !VerifyUDPChecksum(f, &b) {
		t.Fatal("IPv4 checksum after DecapDual")
	}
}

// TestDecapDual6Outer: the outer IPv6 header's own failure modes.
func TestDecapDual6Outer(t *testing.T) {
	gen := geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{ovnTLV(1, 2)})
	inner := innerFrame(t, 0)
	hbh := []byte{byte(layers.IPProtocolUDP), 0, 1, 4, 0, 0, 0, 0}
	frag := func(off uint16, more bool) []byte {
		o := off << 3
		if more {
			o |= 1
		}
		return []byte{byte(layers.IPProtocolUDP), 0, byte(o >> 8), byte(o), 0, 0, 0, 9}
	}
	mut := func(f []byte, fn func(b []byte)) []byte { fn(f); return f }
	cases := map[string]struct {
		f    []byte
		want Result
	}{
		"hop-by-hop":       {outerFrame6(t, false, true, layers.IPProtocolIPv6HopByHop, hbh, gen, inner), OK},
		"atomic fragment":  {outerFrame6(t, false, true, layers.IPProtocolIPv6Fragment, frag(0, false), gen, inner), OK},
		"first fragment":   {outerFrame6(t, false, true, layers.IPProtocolIPv6Fragment, frag(0, true), gen, inner), ErrFragment},
		"later fragment":   {outerFrame6(t, false, true, layers.IPProtocolIPv6Fragment, frag(8, false), gen, inner), ErrFragment},
		"zero checksum":    {outerFrame6(t, false, false, 0, nil, gen, inner), OK},
		"not udp":          {mut(outerFrame6(t, false, true, 0, nil, gen, inner), func(b []byte) { b[20] = byte(layers.IPProtocolTCP) }), NotGeneve},
		"not geneve port":  {mut(outerFrame6(t, false, true, 0, nil, gen, inner), func(b []byte) { b[54+3]++ }), NotGeneve},
		"version":          {mut(outerFrame6(t, false, true, 0, nil, gen, inner), func(b []byte) { b[14] = 0x45 }), ErrOuterIP},
		"payload too long": {mut(outerFrame6(t, false, true, 0, nil, gen, inner), func(b []byte) { b[18] = 0xff }), ErrOuterIP},
		"bad chain":        {mut(outerFrame6(t, false, true, layers.IPProtocolIPv6HopByHop, hbh, gen, inner), func(b []byte) { b[55] = 200 }), ErrOuterIP},
		"udp length":       {mut(outerFrame6(t, false, true, 0, nil, gen, inner), func(b []byte) { b[54+4] = 0xff }), ErrUDPLen},
		"geneve version":   {mut(outerFrame6(t, false, true, 0, nil, gen, inner), func(b []byte) { b[62] |= 0x40 }), ErrVersion},
		"critical option":  {outerFrame6(t, false, true, 0, nil, geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{{0x0103, 0x85, nil}}), inner), ErrCriticalOption},
		"short ipv6":       {outerFrame6(t, false, true, 0, nil, gen, inner)[:14+39], ErrShort},
	}
	for name, c := range cases {
		var d Decapped
		if r := DecapDual(c.f, &d); r != c.want {
			t.Errorf("%s: %v, want %v", name, r, c.want)
		} else if r == OK && (!d.IPv6 || !VerifyUDPChecksum(c.f, &d) || !bytes.Equal(c.f[d.InnerOff:d.End], inner)) {
			t.Errorf("%s: decapped %+v does not verify or lost the inner frame", name, d)
		}
	}
}

// TestDecapDual6Truncated: every cut is an error, never a panic or OK.
func TestDecapDual6Truncated(t *testing.T) {
	f := seedFrame6(t)
	var d Decapped
	for n := 0; n < len(f); n++ {
		if r := DecapDual(f[:n], &d); r == OK {
			t.Fatalf("cut to %d bytes decapped OK", n)
		}
	}
}

func TestDecapDual6Allocs(t *testing.T) {
	f := seedFrame6(t)
	var d Decapped
	if a := testing.AllocsPerRun(1000, func() {
		if DecapDual(f, &d) != OK || !VerifyUDPChecksum(f, &d) {
			t.Fatal("decap")
		}
	}); a != 0 {
		t.Fatalf("DecapDual allocates %v per run", a)
	}
}
