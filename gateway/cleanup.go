package gateway

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/xgw-dev/xgw/bpf"
	"github.com/xgw-dev/xgw/config"
)

// PinPath is where the fast path's state is pinned ("" for nowhere).
func PinPath(o config.Offload) string {
	switch o.PinPath {
	case "":
		return config.DefaultPinPath
	case "none":
		return ""
	}
	return o.PinPath
}

// Cleanup is the full stop of a pinned fast path a stopped xgw left: it
// detaches the pinned XDP links of ifaces and removes dir, saying what it
// did on w.
func Cleanup(w io.Writer, dir string, ifaces []string) error {
	var errs []error
	seen := map[string]bool{}
	for _, name := range ifaces {
		if seen[name] {
			continue
		}
		seen[name] = true
		p := filepath.Join(dir, "link_"+name)
		l, err := bpf.OpenPinnedLink(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("open %s: %w", p, err))
			continue
		}
		if err := l.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("unpin %s: %w", p, err))
		}
		if err := l.Close(); err != nil { // the last reference: detaches
			errs = append(errs, fmt.Errorf("detach XDP from %s: %w", name, err))
		} else {
			fmt.Fprintf(w, "detached XDP from %s\n", name)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	} else {
		fmt.Fprintf(w, "removed %s\n", dir)
	}
	return errors.Join(errs...)
}
