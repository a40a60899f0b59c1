package datapath

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"github.com/xgw-dev/xgw/ipfrag"
	"github.com/xgw-dev/xgw/packet"
)

// datagram6Len is the UDP datagram of the IPv6 fragment tests (8 bytes of
// header): three fragments of 1232, 1232 and 536 bytes of data, as a host
// whose MTU is 1280 would send them.
const (
	datagram6Len = 3000
	frag6Data    = 1232
)

// payload6Of is the UDP payload of a datagram6Len datagram built from seed.
func payload6Of(seed byte) []byte {
	b := make([]byte, datagram6Len-8)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// udp6Fragments builds an Ethernet/IPv6/UDP datagram of datagram6Len
// bytes (checksum over the whole datagram) and splits it behind a
// fragment header with identification id, frag6Data bytes of data each.
func udp6Fragments(t testing.TB, srcMAC, dstMAC packet.MAC, src, dst packet.IP6, sport, dport uint16, id uint32, seed byte) [][]byte {
	t.Helper()
	whole := v6Frame(t, srcMAC, dstMAC, src, dst, 64, nil, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload(payload6Of(seed)))
	return split6(t, whole, id, packet.ProtoUDP)
}

// split6 splits whole (Ethernet/IPv6/upper-layer proto, no extension
// headers) behind a fragment header with identification id, frag6Data
// bytes of data each, into 3 fragments.
func split6(t testing.TB, whole []byte, id uint32, proto uint8) [][]byte {
	t.Helper()
	const hl = packet.EthernetLen + packet.IPv6Len
	hdr, data := whole[:hl], whole[hl:]
	var frags [][]byte
	for off := 0; off < len(data); off += frag6Data {
		end := min(off+frag6Data, len(data))
		f := append(append([]byte(nil), hdr...), make([]byte, packet.IPv6FragmentLen)...)
		f[packet.EthernetLen+6] = packet.ProtoFragment
		binary.BigEndian.PutUint16(f[packet.EthernetLen+4:], uint16(packet.IPv6FragmentLen+end-off))
		packet.IPv6Fragment(f[hl:]).Encode(packet.IPv6FragmentFields{NextHeader: proto, Offset: uint16(off / 8), More: end < len(data), ID: id})
		frags = append(frags, append(f, data[off:end]...))
	}
	if len(frags) != 3 {
		t.Fatalf("%d fragments, want 3", len(frags))
	}
	return frags
}

// egress6Fragments are vm1's datagram to the server, each fragment in
// Geneve from node01.
func egress6Fragments(t testing.TB, src packet.IP6, id uint32) [][]byte {
	fs := udp6Fragments(t, macDR, macGR, src, d6Server, 40000, 53, id, 1)
	for i, f := range fs {
		fs[i] = seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, f)
	}
	return fs
}

// reply6Fragments are the server's datagram back to dst:dport.
func reply6Fragments(t testing.TB, dst packet.IP6, dport uint16, id uint32) [][]byte {
	return udp6Fragments(t, packet.MAC(seedtest.MACNextHop), packet.MAC(seedtest.MACGRExt), d6Server, dst, 53, dport, id, 2)
}

// reassemble6 checks that frames (Ethernet/IPv6, in any order) are the
// fragments of one datagram as gopacket decodes them (one fragment
// header each, one identification, one source and destination, offsets
// that tile the datagram, the last without M) and returns its addresses
// and UDP header and payload, after checking the UDP checksum of the
// reassembled datagram and the payload built from seed.
func reassemble6(t *testing.T, frames [][]byte, seed byte) (src, dst packet.IP6, udp *layers.UDP) {
	t.Helper()
	data := make([]byte, datagram6Len)
	covered, last := 0, false
	var id uint32
	for i, f := range frames {
		pk := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		if el := pk.ErrorLayer(); el != nil {
			t.Fatalf("frame %d: %v", i, el.Error())
		}
		ip, ok := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		fh, ok2 := pk.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
		if !ok || !ok2 {
			t.Fatalf("frame %d: no IPv6 fragment: %v", i, pk)
		}
		if len(f) != packet.EthernetLen+packet.IPv6Len+int(ip.Length) {
			t.Fatalf("frame %d: %d bytes for payload length %d", i, len(f), ip.Length)
		}
		s, d := packet.IP6(ip.SrcIP.To16()), packet.IP6(ip.DstIP.To16())
		if i == 0 {
			src, dst, id = s, d, fh.Identification
		} else if s != src || d != dst || fh.Identification != id {
			t.Fatalf("frame %d: %v -> %v id %#x, frame 0: %v -> %v id %#x", i, s, d, fh.Identification, src, dst, id)
		}
		if fh.NextHeader != layers.IPProtocolUDP {
			t.Fatalf("frame %d: fragment next header %v", i, fh.NextHeader)
		}
		off := int(fh.FragmentOffset) * 8
		if off+len(fh.Payload) > len(data) {
			t.Fatalf("frame %d: data [%d,%d) past the datagram", i, off, off+len(fh.Payload))
		}
		copy(data[off:], fh.Payload)
		covered += len(fh.Payload)
		if !fh.MoreFragments {
			last = off+len(fh.Payload) == datagram6Len
		}
	}
	if covered != datagram6Len || !last {
		t.Fatalf("fragments cover %d bytes (last %v), want %d", covered, last, datagram6Len)
	}
	if !packet.L4ChecksumValid6(data, src, dst, packet.ProtoUDP) {
		t.Fatal("reassembled UDP checksum wrong")
	}
	pk := gopacket.NewPacket(data, layers.LayerTypeUDP, gopacket.Default)
	udp, ok := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if !ok || int(udp.Length) != datagram6Len || !bytes.Equal(udp.Payload, payload6Of(seed)) {
		t.Fatalf("reassembled datagram is not the one sent: %v", pk)
	}
	return src, dst, udp
}

// TestFragments6NAT66: vm1's 3000-byte UDP datagram, in 3 IPv6
// fragments, leaves NAT66-ed (source 2001:db8:5::100 on every fragment,
// the port and UDP checksum rewritten in the first), in order and out of
// order, in one batch or one fragment per batch; the server's reply, in 3
// fragments, reaches vm1 in Geneve, un-NAT66-ed. Before IPv6 fragments
// went through the table, every one of them was dropped.
func TestFragments6NAT66(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order []int
		batch bool
	}{
		{"in-order", []int{0, 1, 2}, false},
		{"in-order-one-batch", []int{0, 1, 2}, true},
		{"last-first", []int{2, 1, 0}, false},
		{"middle-first-one-batch", []int{1, 0, 2}, true},
		{"first-last", []int{0, 2, 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness6(t)
			run := func(port flow.Port, fs [][]byte) [][]byte {
				if tc.batch {
					out, _ := h.runBatch(port, fs...)
					return out
				}
				var out [][]byte
				for _, f := range fs {
					o, _ := h.runBatch(port, f)
					out = append(out, o...)
				}
				return out
			}
			out := run(flow.Underlay, order(egress6Fragments(t, d6VM1, 0x12344242), tc.order...))
			if len(out) != 3 {
				t.Fatalf("%d frames out, want 3; stats %+v drops %v", len(out), h.pl.Stats().Fragments, h.pl.Stats().Drops)
			}
			src, dst, udp := reassemble6(t, out, 1)
			if src != d6SNAT || dst != d6Server || udp.DstPort != 53 {
				t.Fatalf("egress %v:%d -> %v:%d, want %v -> %v:53", src, udp.SrcPort, dst, udp.DstPort, d6SNAT, d6Server)
			}
			for _, f := range out {
				if !bytes.Equal(f[0:6], seedtest.MACNextHop) || f[packet.EthernetLen+7] != 63 {
					t.Fatalf("egress fragment L2/hop limit: dst %x hop %d", f[0:6], f[packet.EthernetLen+7])
				}
			}
			back := run(flow.External, order(reply6Fragments(t, d6SNAT, uint16(udp.SrcPort), 0xabcd0001), tc.order...))
			if len(back) != 3 {
				t.Fatalf("%d frames back, want 3; stats %+v drops %v", len(back), h.pl.Stats().Fragments, h.pl.Stats().Drops)
			}
			inners := make([][]byte, len(back))
			for i, f := range back {
				inner, vni := decapTest(t, f)
				if vni != 9 || packet.Ethernet(inner).Dst() != packet.MAC(seedtest.MACVM) { // sw1, vm1
					t.Fatalf("reply fragment %d: VNI %d to %v", i, vni, packet.Ethernet(inner).Dst())
				}
				inners[i] = inner
				// One flow: the same Geneve entropy on every fragment.
				if !bytes.Equal(f[34:36], back[0][34:36]) {
					t.Fatalf("outer source ports differ across fragments: %x vs %x", f[34:36], back[0][34:36])
				}
			}
			src, dst, udp = reassemble6(t, inners, 2)
			if src != d6Server || dst != d6VM1 || udp.DstPort != 40000 || udp.SrcPort != 53 {
				t.Fatalf("reply %v:%d -> %v:%d, want %v:53 -> %v:40000", src, udp.SrcPort, dst, udp.DstPort, d6Server, d6VM1)
			}
			s := h.pl.Stats()
			wantHeld := 2 * uint64(indexOf(tc.order, 0)) // both directions
			if s.Fragments.Held != wantHeld || s.Fragments.Released != wantHeld || s.Fragments.Completed != 2 || s.Fragments.Datagrams != 0 {
				t.Fatalf("fragment stats %+v, want %d held and released, 2 completed", s.Fragments, wantHeld)
			}
		})
	}
}

// TestFragments6Routed: vm2's prefix is routed without NAT: its
// fragments leave unchanged but for the hop limit.
func TestFragments6Routed(t *testing.T) {
	h := newHarness6(t)
	out, _ := h.runBatch(flow.Underlay, order(egress6Fragments(t, d6VM2, 77), 2, 0, 1)...)
	if len(out) != 3 {
		t.Fatalf("%d frames out, want 3; drops %v", len(out), h.pl.Stats().Drops)
	}
	if src, _, udp := reassemble6(t, out, 1); src != d6VM2 || udp.SrcPort != 40000 {
		t.Fatalf("egress from %v:%d, want %v:40000", src, udp.SrcPort, d6VM2)
	}
}

// TestFragments6Timeout: a later fragment whose first never comes is
// held, then dropped and counted when its datagram times out; the first
// fragment after that releases nothing.
func TestFragments6Timeout(t *testing.T) {
	h := newHarness6(t)
	fs := egress6Fragments(t, d6VM1, 9)
	if _, b := h.runBatch(flow.Underlay, fs[1]); b[0].Verdict != VerdictHeld {
		t.Fatalf("later fragment: verdict %v reason %v, want held", b[0].Verdict, b[0].Reason)
	}
	h.now += int64(16 * time.Second)
	h.runBatch(flow.Underlay, egress6(t, d6VM1, 64, 1))
	if s := h.pl.Stats(); s.Fragments.Timeout != 1 || s.Fragments.HeldNow != 0 || s.Fragments.Expired != 1 {
		t.Fatalf("after the timeout: %+v", s.Fragments)
	}
	if out, _ := h.runBatch(flow.Underlay, fs[0]); len(out) != 1 {
		t.Fatalf("first fragment: %d frames out, want only itself", len(out))
	}
}

// TestFragments6Limits: a full table (every way of the datagram's set in
// use), a full hold pool and too many fragments are counted drops, by
// reason, for IPv6 as for IPv4.
func TestFragments6Limits(t *testing.T) {
	h := newHarness6(t)
	var err error
	if h.pl.frags, err = ipfrag.New(ipfrag.Config{MaxDatagrams: 8, MaxFragments: 2, MaxHeld: 1}); err != nil {
		t.Fatal(err)
	}
	// One set of 8 ways: 8 datagrams in progress fill it.
	for id := uint32(1); id <= 8; id++ {
		if out, b := h.runBatch(flow.Underlay, egress6Fragments(t, d6VM1, id<<16)[0]); len(out) != 1 {
			t.Fatalf("first fragment of datagram %d: %v/%v", id, b[0].Verdict, b[0].Reason)
		}
	}
	fs := egress6Fragments(t, d6VM1, 9<<16)
	if _, b := h.runBatch(flow.Underlay, fs[0]); b[0].Reason != DropFragMemory {
		t.Fatalf("ninth datagram: %v/%v, want %v", b[0].Verdict, b[0].Reason, DropFragMemory)
	}
	// Datagram 1: its second fragment is its last allowed; the third is
	// one too many.
	a := egress6Fragments(t, d6VM1, 1<<16)
	out, b := h.runBatch(flow.Underlay, a[1], a[2])
	if len(out) != 1 || b[1].Reason != DropFragTooMany {
		t.Fatalf("MaxFragments 2: %d out, third %v/%v", len(out), b[1].Verdict, b[1].Reason)
	}
	s := h.pl.Stats()
	if s.Drops[DropFragMemory] != 1 || s.Drops[DropFragTooMany] != 1 || s.Fragments.NoMemory != 1 || s.Fragments.TooMany != 1 {
		t.Fatalf("drops %v, table %+v", s.Drops, s.Fragments)
	}
}

// TestFragments6Overlap: a fragment that partly overlaps one seen is
// dropped and poisons its datagram (RFC 5722).
func TestFragments6Overlap(t *testing.T) {
	h := newHarness6(t)
	fs := egress6Fragments(t, d6VM1, 5)
	if out, _ := h.runBatch(flow.Underlay, fs[0]); len(out) != 1 {
		t.Fatal("first fragment not forwarded")
	}
	bad := append([]byte(nil), fs[1]...)
	fh := packet.IPv6Fragment(bad[geneveInnerFragOff(t, bad):])
	fh.Encode(packet.IPv6FragmentFields{NextHeader: packet.ProtoUDP, Offset: frag6Data/8 - 1, More: true, ID: 5})
	seedtest.FixOuterUDP(bad)
	out, b := h.runBatch(flow.Underlay, bad, fs[2])
	if len(out) != 0 || b[0].Reason != DropFragOverlap || b[1].Reason != DropFragOverlap {
		t.Fatalf("overlap: %d out, reasons %v %v", len(out), b[0].Reason, b[1].Reason)
	}
}

// geneveInnerFragOff is the offset of the fragment header in a Geneve
// frame built by egress6Fragments.
func geneveInnerFragOff(t *testing.T, f []byte) int {
	t.Helper()
	inner, _ := decapTest(t, f)
	return len(f) - len(inner) + packet.EthernetLen + packet.IPv6Len
}

// TestFragments6FirstDropped: an unsolicited fragmented datagram to the
// NAT66 address: the first fragment finds no connection, the held one is
// freed and the later one dropped, counted.
func TestFragments6FirstDropped(t *testing.T) {
	h := newHarness6(t)
	fs := reply6Fragments(t, d6SNAT, 40000, 3)
	_, b := h.runBatch(flow.External, fs[1], fs[0], fs[2])
	if b[0].Verdict != VerdictHeld || b[1].Reason != DropNoConn || b[2].Reason != DropFragment {
		t.Fatalf("verdicts %v/%v %v/%v %v/%v", b[0].Verdict, b[0].Reason, b[1].Verdict, b[1].Reason, b[2].Verdict, b[2].Reason)
	}
	if s := h.pl.Stats().Fragments; s.Failed != 2 || s.HeldNow != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestFragments6ZeroAllocs: a fragmented IPv6 datagram of a connection
// that exists allocates nothing, in order and with its first fragment
// last (held, then released).
func TestFragments6ZeroAllocs(t *testing.T) {
	h := newHarness6(t)
	if out, _ := h.runBatch(flow.Underlay, egress6Fragments(t, d6VM1, 1)...); len(out) != 3 {
		t.Fatalf("warm-up: %d out", len(out))
	}
	const runs = 50
	var sets [2 * (runs + 1)][][]byte
	for i := range sets {
		sets[i] = egress6Fragments(t, d6VM1, uint32(100+i)<<8)
	}
	batch := make([]Packet, 3)
	bufs := make([][]byte, 3)
	for i := range bufs {
		bufs[i] = make([]byte, headroom+2048)
	}
	n := 0
	for _, ord := range [][]int{{0, 1, 2}, {2, 1, 0}} {
		allocs := testing.AllocsPerRun(runs, func() {
			fs := sets[n]
			n++
			for i, j := range ord {
				copy(bufs[i][headroom:], fs[j])
				batch[i] = Packet{Buf: bufs[i], Off: headroom, Len: len(fs[j]), InPort: flow.Underlay}
			}
			h.w.Drain()
			h.w.Process(batch)
		})
		if allocs != 0 {
			t.Fatalf("order %v: %v allocs per datagram", ord, allocs)
		}
		tx := 0
		for _, p := range append(batch, h.w.Extra()...) {
			if p.Verdict == VerdictTX {
				tx++
			}
		}
		if tx != 3 {
			t.Fatalf("order %v: %d of 3 forwarded", ord, tx)
		}
	}
}

// TestFragments6Echo: a 3000-byte ICMPv6 echo (ping -6 -s 2992) in 3
// fragments leaves with the NAT66 source on each and, reassembled, a
// valid ICMPv6 checksum (the id and address deltas went into the first
// fragment).
func TestFragments6Echo(t *testing.T) {
	h := newHarness6(t)
	whole := v6Frame(t, macDR, macGR, d6VM1, d6Server, 64, nil, layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)},
		&layers.ICMPv6Echo{Identifier: 4321, SeqNumber: 1}, gopacket.Payload(payload6Of(3)[:datagram6Len-8]))
	fs := split6(t, whole, 0x0e0e0e0e, packet.ProtoICMPv6)
	for i, f := range fs {
		fs[i] = seedtest.Geneve(t, seedtest.Chassis, seedtest.VTEP, 1, 1, 2, f)
	}
	out, b := h.runBatch(flow.Underlay, fs[1], fs[2], fs[0])
	if len(out) != 3 {
		t.Fatalf("%d frames out, want 3: %v/%v %v/%v %v/%v", len(out), b[0].Verdict, b[0].Reason, b[1].Verdict, b[1].Reason, b[2].Verdict, b[2].Reason)
	}
	data := make([]byte, datagram6Len)
	for _, f := range out {
		var p packet.Parsed
		if r := p.DecodeDual(f); (r != packet.OK && r != packet.Fragment) || p.Src6 != d6SNAT || p.FragHdrOff == 0 {
			t.Fatalf("out: %v from %v, fragment header at %d", r, p.Src6, p.FragHdrOff)
		}
		fh := p.Fragment6(f)
		copy(data[int(fh.FragOffset())*8:], f[p.FragHdrOff+packet.IPv6FragmentLen:p.End])
	}
	if !packet.L4ChecksumValid6(data, d6SNAT, d6Server, packet.ProtoICMPv6) {
		t.Fatal("reassembled ICMPv6 checksum wrong")
	}
	if data[0] != packet.ICMPv6EchoRequest || !bytes.Equal(data[8:], payload6Of(3)[:datagram6Len-8]) {
		t.Fatalf("reassembled echo: type %d, payload differs", data[0])
	}
}
