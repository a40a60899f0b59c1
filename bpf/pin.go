package bpf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// PinPath is the bpffs directory the fast-path maps are pinned in ("" if
// not pinned).
func (o *Objects) PinPath() string { return o.pinPath }

// AttachPinned attaches xdp_gw to ifindex through a link pinned at
// PinPath/name, so the program stays attached (and the fast path keeps
// forwarding) after the process exits. If a link is already pinned there
// (a previous xgw), it is adopted: its program is replaced by this one
// atomically (link.Update), with no moment without XDP. adopted says
// which happened. Close the returned link to drop this process's handle
// (the pin keeps it attached); Unpin it, then Close, to detach.
func (o *Objects) AttachPinned(ifindex int, mode Mode, name string) (l link.Link, adopted bool, err error) {
	if o.pinPath == "" {
		return nil, false, errors.New("bpf: AttachPinned needs Options.PinPath")
	}
	path := filepath.Join(o.pinPath, name)
	l, err = OpenPinnedLink(path)
	switch {
	case err == nil:
		info, ierr := l.Info()
		if ierr == nil {
			if xdp := info.XDP(); xdp != nil && int(xdp.Ifindex) != ifindex {
				l.Close()
				return nil, false, fmt.Errorf("bpf: link pinned at %s is on ifindex %d, not %d", path, xdp.Ifindex, ifindex)
			}
		}
		if err := o.AdoptLink(l); err != nil {
			l.Close()
			return nil, false, err
		}
		return l, true, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, err
	}
	if l, err = o.Attach(ifindex, mode); err != nil {
		return nil, false, err
	}
	if err := l.Pin(path); err != nil {
		l.Close()
		return nil, false, fmt.Errorf("bpf: pin XDP link at %s: %w", path, err)
	}
	return l, false, nil
}

// OpenPinnedLink opens the XDP link pinned at path. A missing pin is an
// error wrapping fs.ErrNotExist.
func OpenPinnedLink(path string) (link.Link, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("bpf: pinned link %s: %w", path, err)
	}
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		return nil, fmt.Errorf("bpf: open pinned link %s: %w", path, err)
	}
	return l, nil
}

// AdoptLink makes an existing XDP link (e.g. from OpenPinnedLink) run this
// xdp_gw, replacing its program atomically.
func (o *Objects) AdoptLink(l link.Link) error {
	if err := l.Update(o.objs.XdpGw); err != nil {
		return fmt.Errorf("bpf: replace the program of the XDP link: %w", err)
	}
	return nil
}

// oldPinNames are the fast-path maps' pin names before the xgw_ prefix.
// tx_ports was a DEVMAP then: its pin is dropped (SetPort fills the new
// array; a running old program keeps its map until it is replaced).
var oldPinNames = map[string]string{"flows": gwMapXgwFlows, "fp_stats": gwMapXgwFpStats}

// migratePins renames pins an xgw before the xgw_ prefix left in dir, so
// that an upgrade keeps the offloaded flows (bpffs supports rename), and
// drops a pinned xgw_fp_stats of another size than spec's: a build that
// adds a punt reason grows it, and those counters are statistics, not
// state worth refusing the load for (a program still running on a pinned
// link keeps the old map; the new one starts at zero).
func migratePins(dir string, spec *ebpf.CollectionSpec) error {
	for old, name := range oldPinNames {
		from, to := filepath.Join(dir, old), filepath.Join(dir, name)
		if _, err := os.Stat(from); err != nil {
			continue
		}
		if _, err := os.Stat(to); err == nil {
			continue // both: the new one wins, the old one is left for an operator
		}
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("bpf: rename pinned map %s to %s: %w", from, to, err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "tx_ports")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bpf: remove the old tx_ports pin: %w", err)
	}
	// Counter arrays grow when reasons are appended: a pin of another
	// size starts over at zero rather than fail the load.
	for _, name := range []string{gwMapXgwFpStats, gwMapXgwStats} {
		stats := filepath.Join(dir, name)
		m, err := ebpf.LoadPinnedMap(stats, nil)
		if err != nil {
			continue
		}
		size := m.MaxEntries()
		m.Close()
		if size != spec.Maps[name].MaxEntries {
			if err := os.Remove(stats); err != nil {
				return fmt.Errorf("bpf: remove %s (%d entries, this build has %d): %w", stats, size, spec.Maps[name].MaxEntries, err)
			}
		}
	}
	return nil
}

// Unpin removes the pins of the fast-path maps, for a clean full teardown
// (xgw stopping for good rather than restarting): the maps then go away
// with the last program or descriptor using them. Pinned links are
// unpinned by the caller (link.Unpin) before Close detaches them. Maps
// that are not pinned are skipped.
func (o *Objects) Unpin() error {
	var errs []error
	for _, m := range []*ebpf.Map{o.objs.XgwFlows, o.objs.XgwFlowsUsed, o.objs.XgwTxPorts, o.objs.XgwFpStats, o.objs.XgwVteps, o.objs.XgwVtepsGen,
		o.objs.XgwFlows6, o.objs.XgwFlows6Used, o.objs.XgwVteps6} {
		if m.IsPinned() {
			if err := m.Unpin(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if o.pinPath != "" {
		os.Remove(o.pinPath) // only if empty: links may still be pinned there
	}
	return errors.Join(errs...)
}
