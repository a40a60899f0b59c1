package datapath

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// update rewrites the golden frames under testdata/golden from this run:
// go test ./datapath -run Golden -update, then review the diff.
var update = flag.Bool("update", false, "rewrite the golden frames under testdata/golden")

// checkGolden compares frame, byte for byte, with the golden frame
// testdata/golden/name.hex (a hex.Dump, so that a diff shows which bytes
// moved), or writes it there under -update. The field-by-field checks
// beside each call say why the bytes are right; the golden file says that
// none of the others moved.
func checkGolden(t *testing.T, name string, frame []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".hex")
	got := hex.Dump(frame)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden frame: %v (go test -run '%s' -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("frame differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestSeedGolden pushes the seed's egress packet and its reply through the
// pipeline and checks every header against the OVS flow dumps of the seed
// report, then the conntrack dump against dpctl/dump-conntrack.
func TestSeedGolden(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})

	// Egress: Geneve VNI 1, option 0x00010002, 10.199.100.10 -> 172.31.6.24.
	out := h.run(flow.Underlay, seedtest.Egress(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 47190, DPort: 22, SYN: true, Seq: 1000}))
	if out.Verdict != VerdictTX || out.OutPort != flow.External {
		t.Fatalf("egress verdict %v/%v reason %v, want tx external", out.Verdict, out.OutPort, out.Reason)
	}
	pk := seedtest.Decode(out.Frame())
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !bytes.Equal(eth.SrcMAC, seedtest.MACGRExt) || !bytes.Equal(eth.DstMAC, seedtest.MACNextHop) {
		t.Errorf("egress eth %v -> %v, want %v -> %v", eth.SrcMAC, eth.DstMAC, seedtest.MACGRExt, seedtest.MACNextHop)
	}
	if !ip.SrcIP.Equal(seedtest.SNAT) || !ip.DstIP.Equal(seedtest.Server) || ip.TTL != 62 {
		t.Errorf("egress ip %v -> %v ttl %d, want %v -> %v ttl 62", ip.SrcIP, ip.DstIP, ip.TTL, seedtest.SNAT, seedtest.Server)
	}
	if tcp.SrcPort != 47190 || tcp.DstPort != 22 || !tcp.SYN {
		t.Errorf("egress tcp %d -> %d syn=%v; the free original port must be kept", tcp.SrcPort, tcp.DstPort, tcp.SYN)
	}
	seedtest.CheckChecksums(t, out.Frame())
	checkGolden(t, "seed-egress", out.Frame())

	// Reply: SYN-ACK from the server to the SNAT address.
	back := h.run(flow.External, seedtest.Reply(t, seedtest.L4{Proto: layers.IPProtocolTCP, SPort: 22, DPort: 47190, SYN: true, ACK: true, Seq: 5000, AckNum: 1001}))
	if back.Verdict != VerdictTX || back.OutPort != flow.Underlay {
		t.Fatalf("ingress verdict %v/%v reason %v, want tx underlay", back.Verdict, back.OutPort, back.Reason)
	}
	checkGeneveToVM(t, back.Frame(), 9, 0x00010002, 61)
	pk = seedtest.Decode(back.Frame())
	var inner *layers.TCP
	for _, l := range pk.Layers() {
		if v, ok := l.(*layers.TCP); ok {
			inner = v
		}
	}
	if inner == nil || inner.SrcPort != 22 || inner.DstPort != 47190 || !inner.SYN || !inner.ACK {
		t.Fatalf("inner tcp: %+v", inner)
	}
	seedtest.CheckChecksums(t, back.Frame())
	checkGolden(t, "seed-reply", back.Frame())

	var dump strings.Builder
	if err := h.ct.Dump(&dump, conntrack.DumpOptions{Zone: -1}); err != nil {
		t.Fatal(err)
	}
	want := "tcp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=47190,dport=22),reply=(src=172.31.6.24,dst=10.199.100.10,sport=22,dport=47190),zone=6\n" +
		"tcp,orig=(src=10.199.100.10,dst=172.31.6.24,sport=47190,dport=22),reply=(src=172.31.6.24,dst=123.123.123.123,sport=22,dport=47190),zone=16\n"
	if dump.String() != want {
		t.Errorf("conntrack dump:\n%s\nwant:\n%s", dump.String(), want)
	}
}

// checkGeneveToVM checks an encapsulated frame toward the seed's VM.
func checkGeneveToVM(t *testing.T, frame []byte, vni uint32, opt uint32, ttl uint8) {
	t.Helper()
	pk := seedtest.Decode(frame)
	ips := []*layers.IPv4{}
	eths := []*layers.Ethernet{}
	for _, l := range pk.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			ips = append(ips, v)
		case *layers.Ethernet:
			eths = append(eths, v)
		}
	}
	g, ok := pk.Layer(layers.LayerTypeGeneve).(*layers.Geneve)
	if !ok || len(ips) != 2 || len(eths) != 2 {
		t.Fatalf("not a Geneve frame with an inner IPv4 packet: %v", pk)
	}
	if g.VNI != vni {
		t.Errorf("VNI %d, want %d", g.VNI, vni)
	}
	if len(g.Options) != 1 || g.Options[0].Class != 0x0102 || g.Options[0].Type != 0x80 ||
		len(g.Options[0].Data) != 4 || binary.BigEndian.Uint32(g.Options[0].Data) != opt {
		t.Errorf("Geneve options %+v, want one OVN option %#08x", g.Options, opt)
	}
	udp := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if udp.DstPort != 6081 || udp.SrcPort < 49152 {
		t.Errorf("outer UDP %d -> %d, want entropy port -> 6081", udp.SrcPort, udp.DstPort)
	}
	if udp.Checksum == 0 {
		t.Errorf("outer UDP checksum missing; the seed's tunnels have csum=true")
	}
	if !ips[0].SrcIP.Equal(seedtest.VTEP) || !ips[0].DstIP.Equal(seedtest.Chassis) {
		t.Errorf("outer ip %v -> %v, want %v -> %v", ips[0].SrcIP, ips[0].DstIP, seedtest.VTEP, seedtest.Chassis)
	}
	if !bytes.Equal(eths[0].SrcMAC, seedtest.MACGWUnder) || !bytes.Equal(eths[0].DstMAC, seedtest.MACHV) {
		t.Errorf("outer eth %v -> %v", eths[0].SrcMAC, eths[0].DstMAC)
	}
	if !bytes.Equal(eths[1].SrcMAC, seedtest.MACDRSw1) || !bytes.Equal(eths[1].DstMAC, seedtest.MACVM) {
		t.Errorf("inner eth %v -> %v, want %v -> %v", eths[1].SrcMAC, eths[1].DstMAC, seedtest.MACDRSw1, seedtest.MACVM)
	}
	if !ips[1].DstIP.Equal(seedtest.VM) || ips[1].TTL != ttl {
		t.Errorf("inner ip -> %v ttl %d, want -> %v ttl %d", ips[1].DstIP, ips[1].TTL, seedtest.VM, ttl)
	}
}
