package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// flowBatch is how many entries one BPF_MAP_LOOKUP_BATCH returns: 256
// entries of key and value are 40 KiB of buffer per walk, and the 10,000
// entries of 5,000 offloaded connections take 40 syscalls instead of
// 20,000 (a next-key and a lookup per entry). The offload manager walks
// the map every second (offload.Manager's sync) on the gateway's CPU,
// where the per-entry walk cost about a tenth of a core under the
// fastpath benchmark.
const flowBatch = 256

// walkFlows calls yield for every entry of the flows map, batch by batch,
// until yield returns false. A kernel without batch operations on hash
// maps (before 5.6) gets the entry-by-entry walk.
func (f *FastPath) walkFlows(yield func(Flow, error) bool) error {
	off := ktimeOffset()
	n := flowBatch
	keys := make([]gwFpKey, n)
	vals := make([]gwFpAction, n)
	var cursor ebpf.MapBatchCursor
	first := true
	for {
		got, err := f.flows.BatchLookup(&cursor, keys, vals, nil)
		switch {
		case errors.Is(err, unix.ENOSPC) && n < 1<<16:
			// One bucket holds more than n entries: the cursor did
			// not move, retry with room for it.
			n *= 4
			keys, vals = make([]gwFpKey, n), make([]gwFpAction, n)
			continue
		case first && (errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL)):
			return f.iterateFlows(off, yield)
		case err != nil && !errors.Is(err, ebpf.ErrKeyNotExist):
			return fmt.Errorf("batch lookup: %w", err)
		}
		first = false
		for i := range got {
			if !yield(decodeFlowAt(&keys[i], &vals[i], off), nil) {
				return nil
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
	}
}

// iterateFlows is walkFlows one entry at a time.
func (f *FastPath) iterateFlows(off int64, yield func(Flow, error) bool) error {
	var k gwFpKey
	var v gwFpAction
	it := f.flows.Iterate()
	for it.Next(&k, &v) {
		if !yield(decodeFlowAt(&k, &v, off), nil) {
			return nil
		}
	}
	return it.Err()
}
