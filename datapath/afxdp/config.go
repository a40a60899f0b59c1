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
type Config struct {
	NumFrames          int  // UMEM chunks; default 4096
	FrameSize          int  // chunk size, 2048 or 4096; default 2048
	Headroom           int  // bytes before packet data, for encapsulation; >= 64, default 256
	FillRingSize       int  // power of two; default NumFrames/2
	CompletionRingSize int  // power of two; default NumFrames/2
	RxRingSize         int  // power of two; default NumFrames/2
	TxRingSize         int  // power of two; default NumFrames/2
	Mode               Mode // default ModeAuto
}

func (c *Config) setDefaults() error {
	if c.NumFrames == 0 {
		c.NumFrames = 4096
	}
	if c.FrameSize == 0 {
		c.FrameSize = 2048
	}
	if c.Headroom == 0 {
		c.Headroom = 256
	}
	for _, r := range []*int{&c.FillRingSize, &c.CompletionRingSize, &c.RxRingSize, &c.TxRingSize} {
		if *r == 0 {
			*r = c.NumFrames / 2
		}
		if *r <= 0 || *r&(*r-1) != 0 {
			return fmt.Errorf("ring size %d is not a power of two", *r)
		}
	}
	if c.FrameSize != 2048 && c.FrameSize != 4096 {
		return fmt.Errorf("frame size %d: want 2048 or 4096", c.FrameSize)
	}
	if c.NumFrames <= 0 {
		return fmt.Errorf("NumFrames %d", c.NumFrames)
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
