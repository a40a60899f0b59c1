package afxdp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ownership of each UMEM chunk. Checked on Transmit/Release so that a caller
// bug (double release, transmitting a frame twice) is an error or a counted
// bad frame instead of silent corruption.
const (
	chunkFree   uint8 = iota // on our free stack
	chunkKernel              // in the fill ring, rx path or tx/completion path
	chunkUser                // handed out by Receive or Alloc
)

// umem is the packet memory shared with the kernel, cut into equal chunks.
type umem struct {
	mem       []byte
	frameSize uint64
	shift     uint // log2(frameSize)
	free      []uint64
	state     []uint8
}

func newUmem(numFrames, frameSize int) (*umem, error) {
	mem, err := unix.Mmap(-1, 0, numFrames*frameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap umem of %d x %d: %w", numFrames, frameSize, err)
	}
	u := &umem{
		mem:       mem,
		frameSize: uint64(frameSize),
		free:      make([]uint64, 0, numFrames),
		state:     make([]uint8, numFrames),
	}
	for 1<<u.shift < frameSize {
		u.shift++
	}
	// Push in reverse so that chunk 0 is handed out first.
	for i := numFrames - 1; i >= 0; i-- {
		u.free = append(u.free, uint64(i)*u.frameSize)
	}
	return u, nil
}

// register makes mem the UMEM of socket fd.
func (u *umem) register(fd int, headroom uint32) error {
	reg := unix.XDPUmemReg{
		Addr:     uint64(uintptr(unsafe.Pointer(&u.mem[0]))),
		Len:      uint64(len(u.mem)),
		Size:     uint32(u.frameSize),
		Headroom: headroom,
	}
	return setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg))
}

func (u *umem) unmap() {
	if u.mem != nil {
		unix.Munmap(u.mem)
		u.mem = nil
	}
}

func (u *umem) index(addr uint64) uint64 { return addr >> u.shift }

func (u *umem) base(addr uint64) uint64 { return addr &^ (u.frameSize - 1) }

func (u *umem) pop() (uint64, bool) {
	n := len(u.free)
	if n == 0 {
		return 0, false
	}
	a := u.free[n-1]
	u.free = u.free[:n-1]
	return a, true
}

func (u *umem) push(addr uint64) {
	u.state[u.index(addr)] = chunkFree
	u.free = append(u.free, addr)
}

// owned reports whether f is a valid frame of this UMEM held by the user.
func (u *umem) owned(f *Frame) bool {
	if f.Addr >= uint64(len(u.mem)) || f.Addr&(u.frameSize-1) != 0 ||
		f.Off < 0 || f.Len < 0 || uint64(f.Off+f.Len) > u.frameSize {
		return false
	}
	return u.state[u.index(f.Addr)] == chunkUser
}
