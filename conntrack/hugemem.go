package conntrack

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The slab and index are the table's whole footprint (124 B per
// connection: 124 MB at the default capacity) and every packet touches both
// at random. With 4 KiB pages nearly every probe is a TLB miss, which on
// these machines cost more than the rest of the pipeline together. So both
// live in an anonymous mapping advised for transparent huge pages, outside
// the Go heap (they hold no pointers), zeroed lazily by the kernel instead
// of by the allocator, and unmapped when the Table becomes unreachable.

// mapping is one anonymous mmap owned by a Table.
type mapping struct{ b []byte }

// hugeSlice returns a zeroed []T of n elements backed by its own mapping.
// T must hold no Go pointers. It falls back to the Go heap if mmap fails.
func hugeSlice[T, O any](n int, owner *O, prefault bool) []T {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if size == 0 {
		return nil
	}
	if raceEnabled {
		return make([]T, n)
	}
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]T, n)
	}
	// Best effort: without THP (or with it set to "never") this is a no-op.
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	if prefault {
		// After the advice, so that the faults take huge pages.
		_ = unix.Madvise(b, unix.MADV_POPULATE_WRITE)
	}
	m := &mapping{b: b}
	runtime.AddCleanup(owner, func(m *mapping) { _ = unix.Munmap(m.b) }, m)
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}
