package afxdp

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is one side of a single-producer/single-consumer ring shared with the
// kernel. We keep a local copy of our own index and a cached copy of the
// kernel's, so the shared cache lines are touched once per batch.
type ring struct {
	prod, cons *uint32 // shared with the kernel
	flags      *uint32
	mask, size uint32
	local      uint32 // our index: prod for producer rings, cons for consumer rings
	cached     uint32 // last seen kernel index
	mem        []byte
}

// mapRing mmaps one ring of size entries of descSize bytes at pgoff.
func mapRing(fd int, off unix.XDPRingOffset, size uint32, descSize uintptr, pgoff int64) (ring, unsafe.Pointer, error) {
	n := int(off.Desc + uint64(size)*uint64(descSize))
	mem, err := unix.Mmap(fd, pgoff, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return ring{}, nil, fmt.Errorf("mmap ring at %#x: %w", pgoff, err)
	}
	r := ring{
		prod:  (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		cons:  (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags: (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		mask:  size - 1,
		size:  size,
		mem:   mem,
	}
	return r, unsafe.Pointer(&mem[off.Desc]), nil
}

func (r *ring) unmap() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
}

// needsWakeup reports whether the kernel asked for a syscall (XDP_USE_NEED_WAKEUP).
func (r *ring) needsWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// Producer side (fill, tx).

// free returns how many entries (up to n) can be produced now.
func (r *ring) free(n uint32) uint32 {
	f := r.size - (r.local - r.cached)
	if f < n {
		r.cached = atomic.LoadUint32(r.cons)
		f = r.size - (r.local - r.cached)
	}
	return min(f, n)
}

// submit publishes everything produced so far (release store).
func (r *ring) submit() { atomic.StoreUint32(r.prod, r.local) }

// pending is how many produced entries the kernel has not consumed yet.
func (r *ring) pending() uint32 { return r.local - atomic.LoadUint32(r.cons) }

// Consumer side (rx, completion).

// avail returns how many entries (up to n) can be consumed now.
func (r *ring) avail(n uint32) uint32 {
	a := r.cached - r.local
	if a < n {
		r.cached = atomic.LoadUint32(r.prod)
		a = r.cached - r.local
	}
	return min(a, n)
}

// release hands consumed entries back to the kernel.
func (r *ring) release() { atomic.StoreUint32(r.cons, r.local) }

// addrRing carries UMEM chunk addresses (fill and completion rings).
type addrRing struct {
	ring
	descs []uint64
}

// descRing carries packet descriptors (rx and tx rings).
type descRing struct {
	ring
	descs []unix.XDPDesc
}

func mapAddrRing(fd int, off unix.XDPRingOffset, size uint32, pgoff int64) (addrRing, error) {
	r, p, err := mapRing(fd, off, size, 8, pgoff)
	if err != nil {
		return addrRing{}, err
	}
	return addrRing{ring: r, descs: unsafe.Slice((*uint64)(p), size)}, nil
}

func mapDescRing(fd int, off unix.XDPRingOffset, size uint32, pgoff int64) (descRing, error) {
	r, p, err := mapRing(fd, off, size, unsafe.Sizeof(unix.XDPDesc{}), pgoff)
	if err != nil {
		return descRing{}, err
	}
	return descRing{ring: r, descs: unsafe.Slice((*unix.XDPDesc)(p), size)}, nil
}
