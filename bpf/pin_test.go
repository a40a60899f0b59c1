package bpf

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/google/gopacket/layers"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
	"golang.org/x/sys/unix"
)

// bpffsDir returns a fresh directory on a bpffs: under /sys/fs/bpf if
// that is one, else on a bpffs mounted on a temp dir. Removed at the end.
func bpffsDir(t testing.TB) string {
	t.Helper()
	var r [4]byte
	rand.Read(r[:])
	name := "xgwtest-" + hex.EncodeToString(r[:])
	var st unix.Statfs_t
	base := "/sys/fs/bpf"
	if unix.Statfs(base, &st) != nil || st.Type != unix.BPF_FS_MAGIC {
		base = t.TempDir()
		if err := unix.Mount("bpf", base, "bpf", 0, ""); err != nil {
			t.Fatalf("mount bpffs on %s: %v", base, err)
		}
		t.Cleanup(func() { unix.Unmount(base, 0) })
	}
	dir := filepath.Join(base, name)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func loadPinned(t testing.TB, dir string) *Objects {
	t.Helper()
	o, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP)), PinPath: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.AddNATAddr(seedSNATAddr); err != nil {
		t.Fatal(err)
	}
	setSeedVTEPs(t, o.FastPath())
	return o
}

// TestPinnedMapsSurviveReload: a flow installed by one load is still
// there, with its counters, its tx port and the fast-path stats, after
// everything is closed and loaded again; Unpin ends that.
func TestPinnedMapsSurviveReload(t *testing.T) {
	needRoot(t)
	dir := bpffsDir(t)
	p := newPipe(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 4444, DPort: 53}
	fwd, rev := p.establish(seedtest.Egress(t, eg), seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53})
	frame := seedtest.Egress(t, eg)

	o1 := loadPinned(t, dir)
	fp1 := o1.FastPath()
	for _, port := range []flow.Port{flow.Underlay, flow.External} {
		if err := fp1.SetPort(port, 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []flow.Action{fwd, rev} {
		if err := fp1.Install(&a); err != nil {
			t.Fatal(err)
		}
	}
	if ret, _ := runFP(t, o1.Program(), frame); ret != xdpRedirectVerdict {
		t.Fatalf("verdict %d before reload", ret)
	}
	o1.Close()

	o2 := loadPinned(t, dir)
	defer o2.Close()
	f, err := o2.FastPath().Lookup(fwd.Key)
	if err != nil {
		t.Fatalf("flow gone after reload: %v", err)
	}
	if f.Packets != 1 || f.LastSeen.IsZero() {
		t.Fatalf("counters after reload: %+v", f)
	}
	// tx_ports came back too: no SetPort before this hit.
	if ret, _ := runFP(t, o2.Program(), frame); ret != xdpRedirectVerdict {
		t.Fatalf("verdict %d after reload", ret)
	}
	if p, _, _, _ := o2.FastPath().Counters(fwd.Key); p != 2 {
		t.Fatalf("packets %d after a hit on the reloaded program, want 2", p)
	}
	if s, _ := o2.Stats(); s.FastPath.HitEgress.Packets != 2 {
		t.Fatalf("fast-path stats not carried over: %+v", s.FastPath)
	}

	// A different capacity is refused, not silently emptied.
	if _, err := Load(Options{VTEP: netip.AddrFrom4([4]byte(seedtest.VTEP)), PinPath: dir, FlowCapacity: 1024}); !errors.Is(err, ebpf.ErrMapIncompatible) {
		t.Fatalf("load with another capacity over the pins: %v", err)
	}

	if err := o2.Unpin(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "flows")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("flows still pinned after Unpin: %v", err)
	}
	o3 := loadPinned(t, dir)
	defer o3.Close()
	defer o3.Unpin()
	if _, err := o3.FastPath().Lookup(fwd.Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Unpin a new load still sees the flow: %v", err)
	}
}

// TestPinnedLinkRestart is the restart sequence of README.md on a veth:
// xgw #1 attaches through a pinned link and exits without detaching; the
// program keeps forwarding from the pinned maps; xgw #2 adopts the link,
// replacing the program atomically, and finds the flow.
func TestPinnedLinkRestart(t *testing.T) {
	needRoot(t)
	dir := bpffsDir(t)
	ns := labNS(t, [2]string{"g0", "g1"})
	ifi := ifindexIn(t, ns, "g0")
	p := newPipe(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 4445, DPort: 53}
	fwd, _ := p.establish(seedtest.Egress(t, eg), seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53})
	frame := seedtest.Egress(t, eg)

	// xgw #1
	o1 := loadPinned(t, dir)
	var adopted bool
	inNS(t, ns, func() error {
		if err := o1.FastPath().SetPort(flow.External, ifi); err != nil {
			return err
		}
		l, a, err := o1.AttachPinned(ifi, ModeNative, "link_g0")
		if err != nil {
			return err
		}
		adopted = a
		return l.Close() // exits without Unpin: stays attached
	})
	if adopted {
		t.Fatal("first attach claims to adopt")
	}
	if err := o1.FastPath().Install(&fwd); err != nil {
		t.Fatal(err)
	}
	o1.Close()

	// xgw is down: the attached program still forwards from the pins.
	l, err := OpenPinnedLink(filepath.Join(dir, "link_g0"))
	if err != nil {
		t.Fatal(err)
	}
	prog1 := attachedProgram(t, l)
	l.Close()
	if ret, err := prog1.Run(&ebpf.RunOptions{Data: frame}); err != nil || ret != xdpRedirectVerdict {
		t.Fatalf("while down: verdict %d, %v", ret, err)
	}
	prog1.Close()

	// xgw #2
	o2 := loadPinned(t, dir)
	defer o2.Close()
	var l2 link.Link
	inNS(t, ns, func() error {
		var err error
		l2, adopted, err = o2.AttachPinned(ifi, ModeNative, "link_g0")
		return err
	})
	if !adopted {
		t.Fatal("restart did not adopt the pinned link")
	}
	info2, _ := o2.Program().Info()
	id2, _ := info2.ID()
	prog2 := attachedProgram(t, l2)
	info, _ := prog2.Info()
	if id, _ := info.ID(); id != id2 {
		t.Fatalf("link runs program %d, want the new one %d", id, id2)
	}
	prog2.Close()
	if pk, _, _, err := o2.FastPath().Counters(fwd.Key); err != nil || pk != 1 {
		t.Fatalf("adopted flow: %d packets, %v", pk, err)
	}

	// Full teardown.
	if err := l2.Unpin(); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	if err := o2.Unpin(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("pin dir left after full teardown: %v", err)
	}
}

func attachedProgram(t testing.TB, l link.Link) *ebpf.Program {
	t.Helper()
	info, err := l.Info()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ebpf.NewProgramFromID(info.Program)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPinnedFpStatsResized: a pinned xgw_fp_stats of an older build (fewer
// punt reasons) does not fail the load as an incompatible map: it is
// replaced by this build's (the counters restart), and the flows stay.
func TestPinnedFpStatsResized(t *testing.T) {
	needRoot(t)
	dir := bpffsDir(t)
	p := newPipe(t, true)
	eg := seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 4446, DPort: 53}
	fwd, _ := p.establish(seedtest.Egress(t, eg), seedtest.L4{Proto: layers.IPProtocolUDP, SPort: 53})
	o := loadPinned(t, dir)
	if err := o.FastPath().Install(&fwd); err != nil {
		t.Fatal(err)
	}
	spec := o.objs.XgwFpStats
	old, err := ebpf.NewMap(&ebpf.MapSpec{Name: gwMapXgwFpStats, Type: ebpf.PerCPUArray,
		KeySize: spec.KeySize(), ValueSize: spec.ValueSize(), MaxEntries: spec.MaxEntries() - 1})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	o.Close()
	stats := filepath.Join(dir, gwMapXgwFpStats)
	if err := os.Remove(stats); err != nil {
		t.Fatal(err)
	}
	if err := old.Pin(stats); err != nil {
		t.Fatal(err)
	}

	o = loadPinned(t, dir)
	defer func() { o.Unpin(); o.Close() }()
	if got, want := o.objs.XgwFpStats.MaxEntries(), uint32(fpMax); got != want {
		t.Fatalf("xgw_fp_stats has %d entries after the load, want %d", got, want)
	}
	if _, err := o.FastPath().Lookup(fwd.Key); err != nil {
		t.Fatalf("flow lost with the resized stats: %v", err)
	}
	if _, err := o.Stats(); err != nil {
		t.Fatal(err)
	}
}
