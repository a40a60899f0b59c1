package engine

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ethtoolChannels is struct ethtool_channels (linux/ethtool.h).
type ethtoolChannels struct {
	Cmd                                         uint32
	MaxRx, MaxTx, MaxOther, MaxCombined         uint32
	RxCount, TxCount, OtherCount, CombinedCount uint32
}

// ifreqData is struct ifreq with ifr_data: a name and a pointer.
type ifreqData struct {
	Name [unix.IFNAMSIZ]byte
	Data unsafe.Pointer
	_    [16]byte
}

// rxQueues returns how many RX queues ifname has active, in the calling
// thread's namespace. It asks ethtool (channels: combined + rx, what the
// driver steers packets to) rather than sysfs, which shows the namespace
// sysfs was mounted in, and falls back to netlink's allocated count for
// drivers without ETHTOOL_GCHANNELS.
func rxQueues(ifname string) (int, error) {
	if n, err := ethtoolRxQueues(ifname); err == nil && n > 0 {
		return n, nil
	}
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("engine: interface %s: %w", ifname, err)
	}
	return max(1, l.Attrs().NumRxQueues), nil
}

func ethtoolRxQueues(ifname string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ch := ethtoolChannels{Cmd: unix.ETHTOOL_GCHANNELS}
	var ifr ifreqData
	copy(ifr.Name[:unix.IFNAMSIZ-1], ifname)
	ifr.Data = unsafe.Pointer(&ch)
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&ch)
	if e != 0 {
		return 0, e
	}
	return int(ch.CombinedCount + ch.RxCount), nil
}
