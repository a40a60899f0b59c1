package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/datapath/afxdp"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// operatorLoad is gw_bpfel.o loaded as an operator would: by iproute2 on
// two interfaces of a namespace (underlay o0, external o2), maps pinned
// by name on a bpffs of its own, then opened by xgw (Open).
type operatorLoad struct {
	ns       string
	dir      string   // the pins: <bpffs>/xdp/globals
	o        *Objects // Open(dir), with Program set to o0's program for BPF_PROG_RUN
	ifindex  [2]int   // o0, o2
	progs    [2]ebpf.ProgramID
	ipLinkTo func(dev string, args ...string)
}

func newOperatorLoad(t *testing.T) *operatorLoad {
	t.Helper()
	needRoot(t)
	if out, err := exec.Command("ip", "-V").CombinedOutput(); err != nil || !strings.Contains(string(out), "libbpf") {
		t.Skipf("iproute2 without libbpf cannot load BTF-defined maps: %s", out)
	}
	ol := &operatorLoad{ns: labNS(t, [2]string{"o0", "o1"}, [2]string{"o2", "o3"})}
	// Not under /sys/fs/bpf: `ip -n` remounts /sys and would not see it.
	mnt := t.TempDir()
	if err := unix.Mount("bpf", mnt, "bpf", 0, ""); err != nil {
		t.Fatalf("mount bpffs on %s: %v", mnt, err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	ol.dir = filepath.Join(mnt, "xdp", "globals")
	ol.ipLinkTo = func(dev string, args ...string) {
		t.Helper()
		cmd := exec.Command("ip", append([]string{"-n", ol.ns, "link", "set", "dev", dev}, args...)...)
		cmd.Env = append(os.Environ(), "TC_BPF_MNT="+mnt)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
		}
	}
	for i, dev := range []string{"o0", "o2"} {
		ol.ipLinkTo(dev, "xdpdrv", "object", "gw_bpfel.o", "section", "xdp")
		inNS(t, ol.ns, func() error {
			l, err := netlink.LinkByName(dev)
			if err != nil {
				return err
			}
			if x := l.Attrs().Xdp; x == nil || !x.Attached {
				return fmt.Errorf("no XDP program on %s after ip link", dev)
			}
			ol.ifindex[i], ol.progs[i] = l.Attrs().Index, ebpf.ProgramID(l.Attrs().Xdp.ProgId)
			return nil
		})
	}
	o, err := Open(ol.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	p, err := ebpf.NewProgramFromID(ol.progs[0])
	if err != nil {
		t.Fatal(err)
	}
	o.objs.XdpGw = p // Close releases it
	ol.o = o
	return ol
}

// TestOperatorLoad: the committed object, loaded by `ip link` on two
// interfaces, shares one set of pinned maps that Open finds; until
// xgw_config is filled it steers nothing to the VTEP; then it behaves as
// the program xgw loads itself: same verdicts, and fast-path output equal
// to the pipeline's.
func TestOperatorLoad(t *testing.T) {
	ol := newOperatorLoad(t)
	o := ol.o
	for _, id := range ol.progs {
		if err := o.CheckProgram(id); err != nil {
			t.Fatalf("program %d: %v", id, err)
		}
	}
	for _, name := range []string{"xgw_config", "xgw_flows", "xgw_fp_stats", "xgw_nat_addrs", "xgw_stats", "xgw_tx_ports", "xgw_vteps", "xgw_xsks"} {
		if _, err := os.Stat(filepath.Join(ol.dir, name)); err != nil {
			t.Errorf("pin %s: %v", name, err)
		}
	}

	geneve := pkt{dst: netip.AddrFrom4([4]byte(seedtest.VTEP)), proto: layers.IPProtocolUDP, dport: 6081}.build(t)
	stat := func() Stats {
		s, err := o.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := stat()
	if v := run(t, o.Program(), geneve); v != xdpPass {
		t.Fatalf("unconfigured: verdict %d", v)
	}
	if d := stat().Pass.Packets - before.Pass.Packets; d != 1 {
		t.Fatalf("unconfigured: Geneve to the VTEP not passed as not ours (Pass +%d)", d)
	}

	if err := o.SetParams(Params{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP)), ExternalIfindex: ol.ifindex[1]}); err != nil {
		t.Fatal(err)
	}
	if err := o.AddNATAddr(seedSNATAddr); err != nil {
		t.Fatal(err)
	}
	before = stat()
	if v := run(t, o.Program(), geneve); v != xdpPass {
		t.Fatalf("configured, no socket: verdict %d", v)
	}
	if d := stat().NoSocket.Packets - before.NoSocket.Packets; d != 1 {
		t.Fatalf("configured: Geneve to the VTEP not steered (NoSocket +%d)", d)
	}

	fp := o.FastPath()
	for _, port := range []flow.Port{flow.Underlay, flow.External} {
		if err := fp.SetPort(port, 1); err != nil {
			t.Fatal(err)
		}
	}
	setSeedVTEPs(t, fp)
	e := &fpEnv{o: o, fp: fp, p: newPipe(t, true)}
	for _, c := range flowCases() {
		t.Run(c.name, func(t *testing.T) {
			fwd, rev := e.p.establish(seedtest.Egress(t, c.eg), c.reply)
			e.install(t, fwd, rev)
			before := e.stats(t).FastPath
			e.wantSame(t, flow.Underlay, flow.External, seedtest.Egress(t, c.eg2))
			seedtest.VerifyOuterUDP(t, e.wantSame(t, flow.External, flow.Underlay, seedtest.Reply(t, toRev(c.rply2, rev))))
			after := e.stats(t).FastPath
			if after.HitEgress.Packets-before.HitEgress.Packets != 1 || after.HitIngress.Packets-before.HitIngress.Packets != 1 {
				t.Fatalf("hits %+v -> %+v", before, after)
			}
		})
	}

	t.Run("geneve-port", func(t *testing.T) {
		if err := o.SetParams(Params{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP)), GenevePort: 7000}); err != nil {
			t.Fatal(err)
		}
		before := stat()
		run(t, o.Program(), geneve)
		run(t, o.Program(), pkt{dst: netip.AddrFrom4([4]byte(seedtest.VTEP)), proto: layers.IPProtocolUDP, dport: 7000}.build(t))
		after := stat()
		if after.Pass.Packets-before.Pass.Packets != 1 || after.NoSocket.Packets-before.NoSocket.Packets != 1 {
			t.Fatalf("port 7000: want 6081 passed and 7000 steered, got %+v -> %+v", before, after)
		}
	})
}

// xdpMD is struct xdp_md, the BPF_PROG_RUN context.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// newOperatorNAT is an operator load steering the seed's SNAT address on
// its external interface, with an AF_XDP socket (closed at cleanup) for
// its slots.
func newOperatorNAT(t *testing.T) (*operatorLoad, afxdp.Port) {
	t.Helper()
	ol := newOperatorLoad(t)
	if err := ol.o.SetParams(Params{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP)), ExternalIfindex: ol.ifindex[1]}); err != nil {
		t.Fatal(err)
	}
	if err := ol.o.AddNATAddr(seedSNATAddr); err != nil {
		t.Fatal(err)
	}
	var port afxdp.Port
	inNS(t, ol.ns, func() (err error) {
		port, err = afxdp.Open("o2", 0, afxdp.Config{NumFrames: 256})
		return err
	})
	t.Cleanup(func() { port.Close() })
	return ol, port
}

// TestOperatorXSKSlots: two interfaces share one xgw_xsks; a frame that
// arrives on the external interface uses slot 1, anything else slot 0.
func TestOperatorXSKSlots(t *testing.T) {
	ol, port := newOperatorNAT(t) // BPF_PROG_RUN only looks the slot up
	o := ol.o
	xsk := port.FD()
	nat := pkt{dst: seedSNATAddr, proto: layers.IPProtocolUDP, dport: 53}.build(t)
	verdict := func(ifindex int) uint32 {
		var ret uint32
		inNS(t, ol.ns, func() error {
			md := xdpMD{DataEnd: uint32(len(nat)), IngressIfindex: uint32(ifindex)}
			var err error
			ret, err = o.Program().Run(&ebpf.RunOptions{Data: nat, Context: md})
			return err
		})
		return ret
	}
	for _, c := range []struct {
		slot     int
		ext, und uint32 // verdict arriving on o2 (external), o0 (underlay)
	}{{1, xdpRedirect, xdpPass}, {0, xdpPass, xdpRedirect}} {
		if err := o.RegisterXSKSlot(c.slot, 0, xsk); err != nil {
			t.Fatal(err)
		}
		if got := verdict(ol.ifindex[1]); got != c.ext {
			t.Errorf("socket in slot %d, frame on the external interface: verdict %d, want %d", c.slot, got, c.ext)
		}
		if got := verdict(ol.ifindex[0]); got != c.und {
			t.Errorf("socket in slot %d, frame on the underlay: verdict %d, want %d", c.slot, got, c.und)
		}
		if err := o.objs.XgwXsks.Delete(uint32(c.slot * MaxQueues)); err != nil {
			t.Fatal(err)
		}
	}
	// One interface for both sides: ExternalIfindex 0, all in slot 0.
	if err := o.SetParams(Params{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP))}); err != nil {
		t.Fatal(err)
	}
	if err := o.RegisterXSKSlot(0, 0, xsk); err != nil {
		t.Fatal(err)
	}
	if got := verdict(ol.ifindex[1]); got != xdpRedirect {
		t.Errorf("one interface: verdict %d, want XDP_REDIRECT to slot 0", got)
	}
}

// TestOpenRefuses: no pins, or pins of another layout, fail clearly.
func TestOpenRefuses(t *testing.T) {
	needRoot(t)
	if _, err := Open(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of an empty dir: %v, want ErrNotExist", err)
	}
	dir := bpffsDir(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	spec, err := loadGw()
	if err != nil {
		t.Fatal(err)
	}
	// The operator's load, then one map replaced by an older layout.
	var objs gwObjects
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dir}}); err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	if _, err := Open(dir); err != nil {
		t.Fatalf("Open of a good load: %v", err)
	}
	os.Remove(filepath.Join(dir, gwMapXgwXsks))
	old, err := ebpf.NewMap(&ebpf.MapSpec{Name: gwMapXgwXsks, Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: MaxQueues})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := old.Pin(filepath.Join(dir, gwMapXgwXsks)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, ebpf.ErrMapIncompatible) {
		t.Fatalf("Open with a 64-entry xgw_xsks: %v, want ErrMapIncompatible", err)
	}
}

// TestPinsMigrated: fast-path maps pinned under their names before the
// xgw_ prefix are taken over, entries included.
func TestPinsMigrated(t *testing.T) {
	needRoot(t)
	dir := bpffsDir(t)
	o := loadPinned(t, dir)
	var key [24]byte
	binary.NativeEndian.PutUint32(key[:], 42)
	val := make([]byte, o.objs.XgwFlows.ValueSize())
	if err := o.objs.XgwFlows.Put(key[:], val); err != nil {
		t.Fatal(err)
	}
	o.Close()
	for old, name := range oldPinNames {
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
	dm, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer dm.Close()
	if err := dm.Pin(filepath.Join(dir, "tx_ports")); err != nil {
		t.Fatal(err)
	}
	o = loadPinned(t, dir)
	defer func() { o.Unpin(); o.Close() }()
	if _, err := os.Stat(filepath.Join(dir, "tx_ports")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old tx_ports devmap pin still there: %v", err)
	}
	got := make([]byte, len(val))
	if err := o.objs.XgwFlows.Lookup(key[:], got); err != nil || !bytes.Equal(got, val) {
		t.Fatalf("flow after migration: %v", err)
	}
	for old := range oldPinNames {
		if _, err := os.Stat(filepath.Join(dir, old)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("old pin %s still there: %v", old, err)
		}
	}
}

// TestOperatorARPExternalOnly: an operator's two instances share
// xgw_nat_addrs, so ARP for a NAT address arriving on the underlay would
// find it too; only the external interface (xgw_config.ext_ifindex)
// steers it, to slot 1. The underlay's copy passes it, though its slot 0
// has a socket. With one interface for both sides, slot 0 takes it.
func TestOperatorARPExternalOnly(t *testing.T) {
	ol, port := newOperatorNAT(t)
	o := ol.o
	for _, slot := range []int{0, 1} {
		if err := o.RegisterXSKSlot(slot, 0, port.FD()); err != nil {
			t.Fatal(err)
		}
	}
	arp := arpFor(seedSNATAddr, layers.ARPRequest, false)(t)
	verdict := func(ifindex int) uint32 {
		var ret uint32
		inNS(t, ol.ns, func() error {
			md := xdpMD{DataEnd: uint32(len(arp)), IngressIfindex: uint32(ifindex)}
			var err error
			ret, err = o.Program().Run(&ebpf.RunOptions{Data: arp, Context: md})
			return err
		})
		return ret
	}
	if got := verdict(ol.ifindex[1]); got != xdpRedirect {
		t.Errorf("ARP for a NAT address on the external interface: verdict %d, want XDP_REDIRECT", got)
	}
	if got := verdict(ol.ifindex[0]); got != xdpPass {
		t.Errorf("ARP for a NAT address on the underlay: verdict %d, want XDP_PASS", got)
	}
	if err := o.SetParams(Params{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP))}); err != nil {
		t.Fatal(err)
	}
	if got := verdict(ol.ifindex[0]); got != xdpRedirect {
		t.Errorf("one interface: ARP verdict %d, want XDP_REDIRECT", got)
	}
}
