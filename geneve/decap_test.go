package geneve

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

func TestDecapSeed(t *testing.T) {
	inner := innerFrame(t, 32)
	for _, vlan := range []bool{false, true} {
		frame := outerFrame(t, vlan, true, geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{ovnTLV(1, 2)}), inner)
		// Link padding after the datagram must not become inner bytes.
		frame = append(frame, 0, 0, 0, 0)
		var d Decapped
		if r := Decap(frame, &d); r != OK {
			t.Fatalf("vlan=%v: %v", vlan, r)
		}
		want := Decapped{
			OuterSrc: hvIP, OuterDst: vtepIP, OuterSrcMAC: hvMAC, SrcPort: seedSrc,
			VNI: 1, HasOVN: true, InPort: 1, OutPort: 2,
			InnerOff: 14 + 20 + 8 + 16, End: len(frame) - 4, UDPOff: 14 + 20,
			UDPChecksum: d.UDPChecksum,
		}
		if vlan {
			want.InnerOff += 4
			want.UDPOff += 4
		}
		if d != want {
			t.Fatalf("vlan=%v:\n got %+v\nwant %+v", vlan, d, want)
		}
		if !bytes.Equal(frame[d.InnerOff:d.End], inner) {
			t.Fatalf("inner frame differs")
		}
		if d.UDPChecksum == 0 || !VerifyUDPChecksum(frame, &d) {
			t.Fatalf("gopacket's UDP checksum %#x does not verify", d.UDPChecksum)
		}
		frame[len(frame)-5] ^= 0xff // corrupt the inner payload
		if VerifyUDPChecksum(frame, &d) {
			t.Fatal("corrupted datagram verifies")
		}
	}
}

func TestDecapNoChecksum(t *testing.T) {
	frame := outerFrame(t, false, false, geneveBytes(0, false, true, ProtoEthernet, 9, []tlv{ovnTLV(3, 1)}), innerFrame(t, 0))
	var d Decapped
	if r := Decap(frame, &d); r != OK || d.UDPChecksum != 0 || !VerifyUDPChecksum(frame, &d) {
		t.Fatalf("%v %+v", r, d)
	}
	if d.VNI != 9 || d.InPort != 3 || d.OutPort != 1 {
		t.Fatalf("%+v", d)
	}
}

func TestDecapOptions(t *testing.T) {
	inner := innerFrame(t, 8)
	unknown := tlv{0x0103, 0x05, []byte{1, 2, 3, 4}}          // non-critical
	unknownCrit := tlv{0x0103, 0x85, []byte{1, 2, 3, 4}}      // critical
	ovnLong := tlv{OVNClass, OVNType, make([]byte, 8)}        // wrong length
	ovnOtherClass := tlv{0x0101, OVNType, []byte{0, 1, 0, 2}} // critical, not ours
	for _, c := range []struct {
		name   string
		crit   bool
		opts   []tlv
		want   Result
		hasOVN bool
	}{
		{"none", false, nil, OK, false},
		{"ovn", true, []tlv{ovnTLV(1, 2)}, OK, true},
		{"unknown skipped", true, []tlv{unknown, ovnTLV(1, 2), unknown}, OK, true},
		{"unknown only", false, []tlv{unknown}, OK, false},
		{"unknown critical", true, []tlv{ovnTLV(1, 2), unknownCrit}, ErrCriticalOption, false},
		// The C bit is only a hint; a critical option without it is still one.
		{"critical without C bit", false, []tlv{unknownCrit}, ErrCriticalOption, false},
		{"other class type 0x80", true, []tlv{ovnOtherClass}, ErrCriticalOption, false},
		{"ovn wrong length", true, []tlv{ovnLong}, ErrBadOption, false},
		{"ovn empty", true, []tlv{{OVNClass, OVNType, nil}}, ErrBadOption, false},
		{"ovn twice", true, []tlv{ovnTLV(1, 2), ovnTLV(3, 4)}, ErrBadOption, false},
	} {
		frame := outerFrame(t, false, true, geneveBytes(0, false, c.crit, ProtoEthernet, 1, c.opts), inner)
		var d Decapped
		r := Decap(frame, &d)
		if r != c.want {
			t.Errorf("%s: got %v want %v", c.name, r, c.want)
			continue
		}
		if r == OK {
			if d.HasOVN != c.hasOVN || !bytes.Equal(frame[d.InnerOff:d.End], inner) {
				t.Errorf("%s: %+v", c.name, d)
			}
			if c.hasOVN && (d.InPort != 1 || d.OutPort != 2) {
				t.Errorf("%s: ports %d %d", c.name, d.InPort, d.OutPort)
			}
		}
	}
}

// TestDecapMalformedOption cuts a TLV's length so it runs past Opt Len.
func TestDecapMalformedOption(t *testing.T) {
	g := geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{ovnTLV(1, 2)})
	g[8+3] = 2 // claims 8 data bytes, area has 4
	frame := outerFrame(t, false, false, g, innerFrame(t, 8))
	var d Decapped
	if r := Decap(frame, &d); r != ErrBadOption {
		t.Fatalf("got %v", r)
	}
}

func TestDecapHeaderErrors(t *testing.T) {
	inner := innerFrame(t, 8)
	ovn := []tlv{ovnTLV(1, 2)}
	for _, c := range []struct {
		name string
		gen  []byte
		want Result
	}{
		{"version 1", geneveBytes(1, false, true, ProtoEthernet, 1, ovn), ErrVersion},
		{"oam", geneveBytes(0, true, true, ProtoEthernet, 7, ovn), ErrOAM},
		{"ipv4 payload", geneveBytes(0, false, true, 0x0800, 1, ovn), ErrProtocol},
		{"ipv6 payload", geneveBytes(0, false, true, 0x86dd, 1, ovn), ErrProtocol},
	} {
		frame := outerFrame(t, false, false, c.gen, inner)
		var d Decapped
		if r := Decap(frame, &d); r != c.want {
			t.Errorf("%s: got %v want %v", c.name, r, c.want)
		}
		if c.want == ErrOAM && (d.VNI != 7 || !d.HasOVN) {
			t.Errorf("oam: fields not filled: %+v", d)
		}
	}

	// Opt Len past the end of the datagram: 63 words, 8 bytes present.
	g := geneveBytes(0, false, true, ProtoEthernet, 1, ovn)
	g[0] |= 0x3f
	var d Decapped
	if r := Decap(outerFrame(t, false, false, g, nil), &d); r != ErrOptLen {
		t.Errorf("opt len: %v", r)
	}
	// A valid header with no room for an inner Ethernet header.
	if r := Decap(outerFrame(t, false, false, geneveBytes(0, false, true, ProtoEthernet, 1, ovn), inner[:13]), &d); r != ErrShort {
		t.Errorf("short inner: %v", r)
	}
}

func TestDecapOuterErrors(t *testing.T) {
	good := seedFrame(t)
	put16 := func(off int, v uint16) func([]byte) {
		return func(b []byte) { binary.BigEndian.PutUint16(b[off:], v) }
	}
	fixIP := func(b []byte) { packet.IPv4(b[14:]).ComputeChecksum() }
	for _, c := range []struct {
		name string
		mod  []func([]byte)
		want Result
	}{
		{"arp", []func([]byte){put16(12, packet.EtherTypeARP)}, NotGeneve},
		{"ipv6", []func([]byte){put16(12, packet.EtherTypeIPv6)}, NotGeneve},
		{"tcp", []func([]byte){func(b []byte) { b[14+9] = packet.ProtoTCP }, fixIP}, NotGeneve},
		{"vxlan port", []func([]byte){put16(34+2, 4789)}, NotGeneve},
		{"ip version", []func([]byte){func(b []byte) { b[14] = 0x65 }, fixIP}, ErrOuterIP},
		{"ihl 4", []func([]byte){func(b []byte) { b[14] = 0x44 }}, ErrOuterIP},
		{"ip checksum", []func([]byte){func(b []byte) { b[14+8]-- }}, ErrOuterIP},
		{"total len past frame", []func([]byte){put16(14+2, uint16(len(good))), fixIP}, ErrOuterIP},
		{"total len below header", []func([]byte){put16(14+2, 19), fixIP}, ErrOuterIP},
		{"total len cuts udp", []func([]byte){put16(14+2, 24), fixIP}, ErrShort},
		{"more fragments", []func([]byte){put16(14+6, 0x2000), fixIP}, ErrFragment},
		{"later fragment", []func([]byte){put16(14+6, 0x0010), fixIP}, ErrFragment},
		{"udp len 7", []func([]byte){put16(34+4, 7)}, ErrUDPLen},
		{"udp len past ip", []func([]byte){put16(34+4, uint16(len(good)-33))}, ErrUDPLen},
		{"udp len cuts geneve", []func([]byte){put16(34+4, 8+7)}, ErrShort},
		{"udp len cuts options", []func([]byte){put16(34+4, 8+12)}, ErrOptLen},
	} {
		b := append([]byte{}, good...)
		for _, m := range c.mod {
			m(b)
		}
		var d Decapped
		if r := Decap(b, &d); r != c.want {
			t.Errorf("%s: got %v want %v", c.name, r, c.want)
		}
	}
}

// TestDecapTruncated cuts the frame at every length: each must give an
// error, never a panic and never OK.
func TestDecapTruncated(t *testing.T) {
	for _, vlan := range []bool{false, true} {
		full := outerFrame(t, vlan, true, geneveBytes(0, false, true, ProtoEthernet, 1, []tlv{ovnTLV(1, 2), {0x1, 0x1, make([]byte, 12)}}), innerFrame(t, 16))
		var d Decapped
		if r := Decap(full, &d); r != OK {
			t.Fatalf("full frame: %v", r)
		}
		for n := 0; n < len(full); n++ {
			// Copy so the race detector and -d=checkptr see exact bounds.
			b := append([]byte(nil), full[:n]...)
			if r := Decap(b, &d); r == OK {
				t.Fatalf("vlan=%v: truncated to %d decapped OK", vlan, n)
			}
		}
	}
}

func TestResultString(t *testing.T) {
	seen := map[string]bool{}
	for r := OK; r < numResults; r++ {
		s := r.String()
		if s == "" || s == "unknown" || seen[s] {
			t.Errorf("result %d: name %q", r, s)
		}
		seen[s] = true
	}
	if numResults.String() != "unknown" {
		t.Error("out-of-range name")
	}
}

func TestDecapAllocs(t *testing.T) {
	frame := seedFrame(t)
	var d Decapped
	if n := testing.AllocsPerRun(1000, func() {
		if Decap(frame, &d) != OK {
			t.Fatal("decap")
		}
	}); n != 0 {
		t.Errorf("Decap allocates %v per run", n)
	}
}
