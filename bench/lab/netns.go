package lab

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Do runs fn on a thread that is inside role's network namespace. Sockets
// that fn opens belong to that namespace for their whole life, so fn can
// return them for use from any goroutine:
//
//	var c net.PacketConn
//	err := l.Do("vm", func() (err error) { c, err = net.ListenPacket("udp4", "10.199.100.10:7777"); return })
//
// Go's resolver and anything that spawns threads should not be used in fn.
func (l *Lab) Do(role string, fn func() error) error {
	ns := l.NS(role)
	if ns == "" {
		return fmt.Errorf("lab: no role %q", role)
	}
	return DoIn(ns, fn)
}

// DoIn is Do for a namespace given by name, in a lab or not ("" runs fn
// where the caller is).
func DoIn(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	target, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	errc := make(chan error, 1)
	// A fresh locked goroutine: if switching back fails, the thread is
	// discarded (the goroutine exits still locked) instead of being reused
	// in the wrong namespace.
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, err)
			return // thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// PacketSocket is an AF_PACKET socket bound to one interface of the lab: it
// sees every frame in and out of that interface and sends raw frames out of
// it. For tests and traffic tools, not for speed.
type PacketSocket struct {
	fd      int
	ifindex int
}

// OpenPacketSocket opens a PacketSocket on ifname inside role's namespace.
func (l *Lab) OpenPacketSocket(role, ifname string) (*PacketSocket, error) {
	var ps *PacketSocket
	err := l.Do(role, func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		ps = &PacketSocket{fd: fd, ifindex: ifc.Index}
		return nil
	})
	return ps, err
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ErrTimeout is returned by PacketSocket.Read when nothing arrived in time.
var ErrTimeout = errors.New("lab: timeout")

// Read returns the next frame (either direction) within timeout. outgoing
// tells whether the frame was sent by this host (PACKET_OUTGOING).
func (p *PacketSocket) Read(buf []byte, timeout time.Duration) (n int, outgoing bool, err error) {
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(p.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, false, err
	}
	for {
		n, from, err := unix.Recvfrom(p.fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return 0, false, ErrTimeout
		}
		if err != nil {
			return 0, false, err
		}
		ll, _ := from.(*unix.SockaddrLinklayer)
		return n, ll != nil && ll.Pkttype == unix.PACKET_OUTGOING, nil
	}
}

// Write sends one raw Ethernet frame out of the interface.
func (p *PacketSocket) Write(frame []byte) error {
	return unix.Sendto(p.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: p.ifindex, Halen: 6})
}

// Close closes the socket.
func (p *PacketSocket) Close() error { return unix.Close(p.fd) }
