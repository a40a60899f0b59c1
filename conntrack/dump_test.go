package conntrack

import (
	"strings"
	"testing"

	"github.com/xgw-dev/xgw/packet"
)

// keepPort is SNAT that keeps the source port, as in the OVN issue's dump.
var keepPort = chooserFunc(func(o Tuple, taken Taken) (Tuple, bool) {
	r := o.Reverse()
	r.Dst = ipSNAT
	return r, !taken.Taken(r)
})

func dumpTable(t *testing.T) *Table {
	ct := newTable(t, Config{Capacity: 64})
	syn := seg(tcpSYN, 1, 0, 1000, 0)
	for _, c := range []struct {
		zone  uint16
		sport uint16
		ch    ReplyChooser
	}{{16, 54346, keepPort}, {6, 54346, nil}, {16, 50604, keepPort}, {6, 50604, nil}} {
		k := Tuple{Src: ipVM, Dst: ipExt, SrcPort: c.sport, DstPort: 5201, Proto: packet.ProtoTCP, Zone: c.zone}
		if _, err := ct.Commit(k, syn, 0, c.ch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ct.Commit(udpTuple(6, 2391), &Meta{Len: 1000}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.Commit(icmpTuple(7), &Meta{Len: 84, ICMPType: 8}, 0, nil); err != nil {
		t.Fatal(err)
	}
	return ct
}

// The lines of zones 6 and 16 are those of ovs-appctl dpctl/dump-conntrack
// in shared/reference/ovn-issue-207.txt.
func TestDumpMatchesOVS(t *testing.T) {
	ct := dumpTable(t)
	var b strings.Builder
	if err := ct.Dump(&b, DumpOptions{Zone: -1}); err != nil {
		t.Fatal(err)
	}
	want := `icmp,orig=(src=10.199.100.10,dst=172.31.6.24,id=7,type=8,code=0),reply=(src=172.31.6.24,dst=10.199.100.10,id=7,type=0,code=0)
tcp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=50604,dport=5201),reply=(src=172.31.6.24,dst=10.199.100.10,sport=5201,dport=50604),zone=6
tcp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=54346,dport=5201),reply=(src=172.31.6.24,dst=10.199.100.10,sport=5201,dport=54346),zone=6
udp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=2391,dport=80),reply=(src=172.31.6.24,dst=10.199.100.10,sport=80,dport=2391),zone=6
tcp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=50604,dport=5201),reply=(src=172.31.6.24,dst=123.123.123.123,sport=5201,dport=50604),zone=16
tcp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=54346,dport=5201),reply=(src=172.31.6.24,dst=123.123.123.123,sport=5201,dport=54346),zone=16
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	ct.Dump(&b, DumpOptions{Zone: 16})
	if !strings.HasPrefix(want[strings.Index(want, "tcp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=50604,dport=5201),reply=(src=172.31.6.24,dst=123"):], b.String()) || strings.Count(b.String(), "\n") != 2 {
		t.Fatalf("zone 16 only:\n%s", b.String())
	}
}

func TestDumpVerbose(t *testing.T) {
	ct := newTable(t, Config{Capacity: 16})
	mt := handshake(t, ct, tcpTuple(16), keepPort, 0)
	ct.SetMark(mt.Handle, 3)
	ct.Commit(udpTuple(0, 9), &Meta{Len: 100}, 0, nil)
	var b strings.Builder
	if err := ct.Dump(&b, DumpOptions{Zone: -1, Verbose: true, Now: 10 * sec}); err != nil {
		t.Fatal(err)
	}
	want := `udp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=9,dport=80,packets=1,bytes=100),reply=(src=172.31.6.24,dst=10.199.100.10,sport=80,dport=9),status=CONFIRMED,timeout=50
tcp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=47190,dport=22,packets=2,bytes=80),reply=(src=172.31.6.24,dst=123.123.123.123,sport=22,dport=47190,packets=1,bytes=40),zone=16,status=SEEN_REPLY|CONFIRMED|SRC_NAT|SRC_NAT_DONE,timeout=86390,mark=3,protoinfo=(state=ESTABLISHED)
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// An IPv6 table dumps as OVS prints IPv6 connections (ct-dpif.c,
// ct_dpif_format_tuple: addresses as inet_ntop writes them, "icmpv6" with
// id, type and code), sorted by address bytes.
func TestDump6MatchesOVS(t *testing.T) {
	ct := newTab[Tuple6](t, Config{Capacity: 16})
	vm, ext, nat := packet.MustIP6("fd00::5"), packet.MustIP6("2001:db8::1:2"), packet.MustIP6("2001:db8:ff::64")
	keep6 := famChooserFunc(func(o Tuple6, taken Taken6) (Tuple6, bool) {
		r := o.Reverse()
		r.Dst = nat
		return r, !taken.Taken(r)
	})
	tcp := Tuple6{Src: vm, Dst: ext, SrcPort: 54346, DstPort: 5201, Proto: packet.ProtoTCP, Zone: 16}
	if _, err := ct.Commit(tcp, seg(tcpSYN, 1, 0, 1000, 0), 0, keep6); err != nil {
		t.Fatal(err)
	}
	udp := Tuple6{Src: vm, Dst: ext, SrcPort: 2391, DstPort: 80, Proto: packet.ProtoUDP, Zone: 6}
	if _, err := ct.Commit(udp, &Meta{Len: 1000}, 0, nil); err != nil {
		t.Fatal(err)
	}
	icmp := Tuple6{Src: packet.MustIP6("fd00::10"), Dst: ext, SrcPort: 7, DstPort: 7, Proto: packet.ProtoICMPv6}
	if _, err := ct.Commit(icmp, &Meta{Len: 104, ICMPType: packet.ICMPv6EchoRequest}, 0, nil); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := ct.Dump(&b, DumpOptions{Zone: -1, Verbose: true, Now: 10 * sec}); err != nil {
		t.Fatal(err)
	}
	want := `icmpv6,orig=(src=fd00::10,dst=2001:db8::1:2,id=7,type=128,code=0,packets=1,bytes=104),reply=(src=2001:db8::1:2,dst=fd00::10,id=7,type=129,code=0),status=CONFIRMED,timeout=50
udp,orig=(src=fd00::5,dst=2001:db8::1:2,sport=2391,dport=80,packets=1,bytes=1000),reply=(src=2001:db8::1:2,dst=fd00::5,sport=80,dport=2391),zone=6,status=CONFIRMED,timeout=50
tcp,orig=(src=fd00::5,dst=2001:db8::1:2,sport=54346,dport=5201,packets=1,bytes=40),reply=(src=2001:db8::1:2,dst=2001:db8:ff::64,sport=5201,dport=54346),zone=16,status=CONFIRMED|SRC_NAT|SRC_NAT_DONE,timeout=20,protoinfo=(state=SYN_SENT)
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

type famChooserFunc func(Tuple6, Taken6) (Tuple6, bool)

func (f famChooserFunc) ChooseReply(o Tuple6, t Taken6) (Tuple6, bool) { return f(o, t) }

// Tables dump both families in one listing, by zone and IPv4 first in a
// zone; the zone filter applies to both, and ZoneCounts adds both.
func TestTablesDumpBothFamilies(t *testing.T) {
	v4 := newTable(t, Config{Capacity: 16})
	v6 := newTab[Tuple6](t, Config{Capacity: 16})
	vm6, ext6 := packet.MustIP6("fd00::5"), packet.MustIP6("2001:db8::1")
	for _, z := range []uint16{16, 6} {
		if _, err := v4.Commit(udpTuple(z, 2391), &Meta{Len: 100}, 0, nil); err != nil {
			t.Fatal(err)
		}
		k := Tuple6{Src: vm6, Dst: ext6, SrcPort: 5000, DstPort: 53, Proto: packet.ProtoUDP, Zone: z}
		if _, err := v6.Commit(k, &Meta{Len: 80}, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	icmp := Tuple6{Src: vm6, Dst: ext6, SrcPort: 9, DstPort: 9, Proto: packet.ProtoICMPv6, Zone: 6}
	if _, err := v6.Commit(icmp, &Meta{Len: 104, ICMPType: packet.ICMPv6EchoRequest}, 0, nil); err != nil {
		t.Fatal(err)
	}
	ts := Tables{V4: v4, V6: v6}
	var b strings.Builder
	if err := ts.Dump(&b, DumpOptions{Zone: -1}); err != nil {
		t.Fatal(err)
	}
	want := `udp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=2391,dport=80),reply=(src=172.31.6.24,dst=10.199.100.10,sport=80,dport=2391),zone=6
udp,orig=(src=fd00::5,dst=2001:db8::1,sport=5000,dport=53),reply=(src=2001:db8::1,dst=fd00::5,sport=53,dport=5000),zone=6
icmpv6,orig=(src=fd00::5,dst=2001:db8::1,id=9,type=128,code=0),reply=(src=2001:db8::1,dst=fd00::5,id=9,type=129,code=0),zone=6
udp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=2391,dport=80),reply=(src=172.31.6.24,dst=10.199.100.10,sport=80,dport=2391),zone=16
udp,orig=(src=fd00::5,dst=2001:db8::1,sport=5000,dport=53),reply=(src=2001:db8::1,dst=fd00::5,sport=53,dport=5000),zone=16
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := ts.Dump(&b, DumpOptions{Zone: 16, Verbose: true, Now: 10 * sec}); err != nil {
		t.Fatal(err)
	}
	want16 := `udp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=2391,dport=80,packets=1,bytes=100),reply=(src=172.31.6.24,dst=10.199.100.10,sport=80,dport=2391),zone=16,status=CONFIRMED,timeout=50
udp,orig=(src=fd00::5,dst=2001:db8::1,sport=5000,dport=53,packets=1,bytes=80),reply=(src=2001:db8::1,dst=fd00::5,sport=53,dport=5000),zone=16,status=CONFIRMED,timeout=50
`
	if b.String() != want16 {
		t.Fatalf("zone 16, verbose:\n%s\nwant:\n%s", b.String(), want16)
	}
	m := map[uint16]int{}
	ts.ZoneCounts(m)
	if m[6] != 3 || m[16] != 2 || len(m) != 2 {
		t.Fatalf("zone counts %v, want 6:3 16:2", m)
	}
	// Either table may be absent.
	b.Reset()
	if err := (Tables{V6: v6}).Dump(&b, DumpOptions{Zone: 16}); err != nil || strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("IPv6 only: %v\n%s", err, b.String())
	}
}
