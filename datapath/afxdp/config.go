package afxdp

import "fmt"

// xdpPacketHeadroom is XDP_PACKET_HEADROOM: the kernel always leaves this
// much before received data, after the UMEM headroom.
const xdpPacketHeadroom = 256

// Mode selects how frames move between the NIC and the UMEM.
type Mode int

const (
	ModeAuto     Mode = iota // zero-copy if the driver supports it, else copy
	ModeCopy                 // force copy mode (veth, most virtual NICs)
	ModeZeroCopy             // require zero-copy; Open fails without it
)

// Config sizes a port. Zero fields take the defaults.
//
// The defaults ride out a stall of the worker (a GC pause, a preemption,
// SIGSTOP) of 200 ms at 27 kpps, 5400 frames, without a drop: the kernel
// keeps receiving into the RX ring from the fill ring while nobody
// serves them, so both must hold the stall's frames (8192 each), and the
// UMEM must have chunks beyond the fill ring for the frames in the
// worker's hands and in TX (16384 in all, as OVS's AF_XDP datapath).
// Memory per socket (one per interface and RX queue):
// NumFrames*FrameSize of UMEM (32 MiB by default) plus 8 B per fill and
// completion entry, 16 B per RX and TX entry (256 KiB), plus 9 B per
// frame of bookkeeping (144 KiB). MemoryBytes computes it.
type Config struct {
	NumFrames          int  // UMEM chunks; default DefaultNumFrames
	FrameSize          int  // chunk size, 2048 or 4096; default 2048
	Headroom           int  // bytes before packet data, for encapsulation; >= 64, default 256
	FillRingSize       int  // power of two, < NumFrames; default NumFrames/2
	CompletionRingSize int  // power of two, >= TxRingSize; default NumFrames/4
	RxRingSize         int  // power of two; default NumFrames/2
	TxRingSize         int  // power of two, < NumFrames; default NumFrames/4
	Mode               Mode // default ModeAuto
}

// DefaultNumFrames is the UMEM size in chunks when Config.NumFrames is 0.
const DefaultNumFrames = 16384

// MemoryBytes is what one socket of this configuration takes (UMEM,
// rings, bookkeeping), after defaults.
func (c Config) MemoryBytes() (int, error) {
	if err := c.setDefaults(); err != nil {
		return 0, err
	}
	return c.NumFrames*(c.FrameSize+9) + 8*(c.FillRingSize+c.CompletionRingSize) + 16*(c.RxRingSize+c.TxRingSize), nil
}

// Validate reports what setDefaults would refuse.
func (c Config) Validate() error { return c.setDefaults() }

func (c *Config) setDefaults() error {
	if c.NumFrames == 0 {
		c.NumFrames = DefaultNumFrames
	}
	if c.FrameSize == 0 {
		c.FrameSize = 2048
	}
	if c.Headroom == 0 {
		c.Headroom = 256
	}
	if c.NumFrames <= 0 {
		return fmt.Errorf("NumFrames %d", c.NumFrames)
	}
	for _, r := range []struct {
		v    *int
		def  int
		name string
	}{
		{&c.FillRingSize, c.NumFrames / 2, "fill"},
		{&c.CompletionRingSize, c.NumFrames / 4, "completion"},
		{&c.RxRingSize, c.NumFrames / 2, "rx"},
		{&c.TxRingSize, c.NumFrames / 4, "tx"},
	} {
		if *r.v == 0 {
			*r.v = max(r.def, 1)
		}
		if *r.v <= 0 || *r.v&(*r.v-1) != 0 {
			return fmt.Errorf("%s ring size %d is not a power of two", r.name, *r.v)
		}
	}
	// A fill ring as large as the UMEM would leave no chunk for TX or
	// for the frames the worker holds; a completion ring smaller than TX
	// would stall TX on completions.
	if c.FillRingSize >= c.NumFrames || c.TxRingSize >= c.NumFrames {
		return fmt.Errorf("fill ring %d and tx ring %d must each be smaller than the UMEM's %d frames", c.FillRingSize, c.TxRingSize, c.NumFrames)
	}
	if c.CompletionRingSize < c.TxRingSize {
		return fmt.Errorf("completion ring %d is smaller than the tx ring %d", c.CompletionRingSize, c.TxRingSize)
	}
	if c.FrameSize != 2048 && c.FrameSize != 4096 {
		return fmt.Errorf("frame size %d: want 2048 or 4096", c.FrameSize)
	}
	if c.Headroom < 64 || c.Headroom > c.FrameSize-1514 {
		return fmt.Errorf("headroom %d: want 64..%d for frame size %d", c.Headroom, c.FrameSize-1514, c.FrameSize)
	}
	return nil
}

// umemHeadroom is what to register so that received data starts at least
// Headroom bytes into the chunk (the kernel adds XDP_PACKET_HEADROOM itself).
func (c *Config) umemHeadroom() uint32 {
	return uint32(max(0, c.Headroom-xdpPacketHeadroom))
}
