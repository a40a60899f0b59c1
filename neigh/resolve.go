package neigh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// retryInterval is how long a miss of the same address is ignored after a
// resolution started: a flow at line rate misses once per packet until the
// kernel answers, and one request per second is plenty for the kernel.
const retryInterval = time.Second

// resolve serves misses until ctx ends. It is the only goroutine that
// talks to the kernel about resolution, so the dedupe map needs no lock.
func (t *Table) resolve(ctx context.Context) {
	last := make(map[netip.Addr]time.Time)
	prune := time.NewTicker(10 * retryInterval)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-prune.C:
			for ip, at := range last {
				if now.Sub(at) >= retryInterval {
					delete(last, ip)
				}
			}
		case m := <-t.misses:
			ip := netip.AddrFrom16(m).Unmap()
			now := time.Now()
			if at, ok := last[ip]; ok && now.Sub(at) < retryInterval {
				continue
			}
			last[ip] = now
			if _, ok := t.peekAddr(ip); ok {
				continue // resolved since the miss was queued
			}
			if err := t.resolveOne(ip); err != nil {
				t.failures.Add(1)
				t.log.Warn("neighbour resolution failed", "ip", ip.String(), "err", err)
			}
		}
	}
}

// resolveOne asks the kernel which next hop carries ip (either family)
// and makes the kernel resolve that next hop: ARP for IPv4, neighbour
// discovery for IPv6, whose gateway is often the router's link-local
// address.
func (t *Table) resolveOne(ip netip.Addr) error {
	routes, err := t.h.RouteGet(net.IP(ip.AsSlice()))
	if err != nil {
		return fmt.Errorf("route to %s: %w", ip, err)
	}
	if len(routes) == 0 {
		return fmt.Errorf("route to %s: none", ip)
	}
	r := routes[0]
	if _, ok := t.links[r.LinkIndex]; !ok {
		return fmt.Errorf("route to %s leaves through ifindex %d, not one of xgw's interfaces", ip, r.LinkIndex)
	}
	target := ip
	if gw, ok := netip.AddrFromSlice(r.Gw); ok && gw.Unmap().Is4() == ip.Is4() && gw.Unmap() != ip {
		target = gw.Unmap()
		t.mu.Lock()
		t.state.via[ip] = target
		t.publish() // hits at once if the gateway is already resolved
		t.mu.Unlock()
	}
	if _, ok := t.peekAddr(target); ok {
		return nil
	}
	family := netlink.FAMILY_V4
	if target.Is6() {
		family = netlink.FAMILY_V6
	}
	t.resolutions.Add(1)
	if !t.noManaged.Load() {
		err := t.h.NeighSet(&netlink.Neigh{
			LinkIndex: r.LinkIndex,
			Family:    family,
			State:     netlink.NUD_NONE,
			FlagsExt:  netlink.NTF_EXT_MANAGED,
			IP:        net.IP(target.AsSlice()),
		})
		if err == nil {
			t.managed.Add(1)
			return nil
		}
		// Kernels before 5.16 reject the managed flag; remember that
		// and use the probe from now on.
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			t.noManaged.Store(true)
			t.log.Info("kernel refuses managed neighbour entries; resolving with UDP probes instead", "err", err)
		} else {
			return fmt.Errorf("create managed neighbour %s: %w", target, err)
		}
	}
	if err := t.probe(target); err != nil {
		return fmt.Errorf("probe %s: %w", target, err)
	}
	t.probes.Add(1)
	return nil
}

// probe sends an empty UDP datagram to the discard port of ip from the
// table's namespace: the kernel has to ARP (or solicit, for IPv6) for the
// next hop to send it. The reply (ICMP port unreachable, if any) is
// harmless.
func (t *Table) probe(ip netip.Addr) error {
	var domain int
	var sa unix.Sockaddr
	if ip.Is4() {
		domain, sa = unix.AF_INET, &unix.SockaddrInet4{Port: 9, Addr: ip.As4()}
	} else {
		domain, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: 9, Addr: ip.As16()}
	}
	fd, err := t.socketInNS(domain)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, nil, unix.MSG_DONTWAIT, sa); err != nil &&
		!errors.Is(err, unix.EAGAIN) {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// socketInNS opens a UDP socket in the table's namespace. A socket keeps
// the namespace it was created in, so the thread switches only for the
// socket call.
func (t *Table) socketInNS(domain int) (int, error) {
	open := func() (int, error) {
		fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("socket: %w", err)
		}
		return fd, nil
	}
	if !t.ns.IsOpen() {
		return open()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return -1, fmt.Errorf("current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(t.ns); err != nil {
		runtime.UnlockOSThread()
		return -1, fmt.Errorf("enter namespace: %w", err)
	}
	fd, oerr := open()
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in the wrong namespace: leave it locked so
		// the runtime retires it with this goroutine instead of reusing it.
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("leave namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return fd, oerr
}
