package xdpload_test

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/bench/frames"
	"github.com/xgw-dev/xgw/bench/xdpload"
	"github.com/xgw-dev/xgw/geneve"
	"github.com/xgw-dev/xgw/packet"
)

var (
	inner6 = frames.Inner6{
		SrcMAC: packet.MustMAC("ae:03:03:17:eb:df"), DstMAC: packet.MustMAC("ae:cd:cd:04:d7:d4"),
		Src: packet.MustIP6("fd00:199:100::10"), Dst: packet.MustIP6("2001:db8:5::2"),
		SrcPort: 10000, DstPort: 9000, HopLimit: 63,
	}
	outer6 = frames.Outer6{
		SrcMAC: packet.MustMAC("02:00:c0:00:02:02"), DstMAC: packet.MustMAC("02:00:c0:00:02:01"),
		Src: packet.MustIP6("fd00:c000:2::2"), Dst: packet.MustIP6("fd00:c000:2::1"), VNI: 1, InPort: 1, Out: 2,
	}
)

// TestGenerator6KeepsChecksums runs the generator program (not live) on
// both IPv6 templates: every flow's inner UDP checksum (and, over the IPv6
// underlay, the outer one) still verifies after the port rewrite and the
// timestamp, and the Go twin used by the AF_XDP backend (Compensate)
// writes the same compensation word as the program. Without the
// compensation word the checksums fail.
func TestGenerator6KeepsChecksums(t *testing.T) {
	needRoot(t)
	for _, underlay6 := range []bool{false, true} {
		var f []byte
		var err error
		encap := geneve.EncapLen
		if underlay6 {
			f, err = frames.Geneve6o6(outer6, inner6, 80)
			encap = geneve.EncapLen6
		} else {
			f, err = frames.Geneve6(outer, inner6, 80)
		}
		if err != nil {
			t.Fatal(err)
		}
		spec := frames.Layout6(underlay6, 5000, 10000)
		g, err := xdpload.NewGenerator(spec, f)
		if err != nil {
			t.Fatal(err)
		}
		ports := map[uint16]bool{}
		for i := 0; i < 40; i++ {
			ret, out := run(t, g.Prog(), append([]byte(nil), f...))
			if ret != 3 {
				t.Fatalf("verdict %d, want XDP_TX", ret)
			}
			ports[binary.BigEndian.Uint16(out[spec.SportOff:])] = true
			if binary.LittleEndian.Uint64(out[spec.PayloadOff+xdpload.TimestampOff:]) == 0 {
				t.Fatal("no timestamp")
			}
			udp := out[encap+packet.EthernetLen+packet.IPv6Len:]
			if !packet.L4ChecksumValid6(udp, inner6.Src, inner6.Dst, packet.ProtoUDP) {
				t.Fatalf("underlay6 %v packet %d: inner UDP checksum invalid", underlay6, i)
			}
			if underlay6 && !packet.L4ChecksumValid6(out[packet.EthernetLen+packet.IPv6Len:], outer6.Src, outer6.Dst, packet.ProtoUDP) {
				t.Fatalf("packet %d: outer UDP checksum invalid", i)
			}
			twin := append([]byte(nil), out...)
			binary.NativeEndian.PutUint16(twin[spec.PayloadOff+xdpload.CompOff:], 0)
			xdpload.Compensate(spec, f, twin)
			if !bytes.Equal(twin, out) {
				t.Fatalf("Compensate wrote %x, the program %x", twin[spec.PayloadOff+xdpload.CompOff:][:2], out[spec.PayloadOff+xdpload.CompOff:][:2])
			}
			// The word matters: without it the checksum fails.
			binary.NativeEndian.PutUint16(twin[spec.PayloadOff+xdpload.CompOff:], 0)
			if packet.L4ChecksumValid6(twin[encap+packet.EthernetLen+packet.IPv6Len:], inner6.Src, inner6.Dst, packet.ProtoUDP) {
				t.Fatalf("packet %d verifies without its compensation word: the test proves nothing", i)
			}
		}
		if len(ports) < 40 {
			t.Errorf("%d distinct source ports in 40 packets", len(ports))
		}
		g.Close()
	}
}

// TestSink6CountsBySource: frames from the expected (NAT66) source count
// in Sink6FromSrc and are dropped but for one in Sink6Every, which passes
// (Sink6Sampled); frames from elsewhere count in Sink6Other; frames
// without the magic, IPv4 and non-UDP pass uncounted.
func TestSink6CountsBySource(t *testing.T) {
	needRoot(t)
	snat := packet.MustIP6("2001:db8:113::10")
	s, err := xdpload.NewSink6(snat)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := frames.Geneve6(outer, inner6, 80)
	if err != nil {
		t.Fatal(err)
	}
	plain := append([]byte(nil), f[geneve.EncapLen:]...) // what reaches ext
	ip := packet.IPv6(plain[packet.EthernetLen:])
	ip.SetSrc(snat)
	// The counters are per CPU, and so is the sampling: stay on one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var one, all unix.CPUSet
	one.Set(0)
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &all)
	verdicts := map[uint32]int{}
	for range xdpload.Sink6Every {
		ret, _ := run(t, s.Prog, plain)
		verdicts[ret]++
	}
	if verdicts[1] != xdpload.Sink6Every-1 || verdicts[2] != 1 {
		t.Errorf("verdicts %v, want %d drops and one pass", verdicts, xdpload.Sink6Every-1)
	}
	other := append([]byte(nil), plain...)
	packet.IPv6(other[packet.EthernetLen:]).SetSrc(inner6.Src)
	if ret, _ := run(t, s.Prog, other); ret != 1 {
		t.Errorf("untranslated frame: verdict %d, want DROP", ret)
	}
	nomagic := append([]byte(nil), plain...)
	nomagic[xdpload.Plain6PayloadOff] ^= 0xff
	if ret, _ := run(t, s.Prog, nomagic); ret != 2 {
		t.Errorf("frame without magic: verdict %d, want PASS", ret)
	}
	v4, _ := frames.Plain(inner, 64)
	if ret, _ := run(t, s.Prog, v4); ret != 2 {
		t.Errorf("IPv4 frame: verdict %d, want PASS", ret)
	}
	for slot, want := range map[uint32]uint64{xdpload.Sink6FromSrc: xdpload.Sink6Every, xdpload.Sink6Other: 1, xdpload.Sink6Sampled: 1} {
		c, err := s.ReadSlot(slot)
		if err != nil {
			t.Fatal(err)
		}
		if c.Packets != want || c.Bytes != want*uint64(len(plain)) {
			t.Errorf("slot %d: %+v, want %d packets of %d bytes", slot, c, want, len(plain))
		}
	}
}
