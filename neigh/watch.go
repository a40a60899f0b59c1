package neigh

import (
	"context"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/packet"
)

// subscription is one netlink neighbour event stream. The library's reader
// goroutine closes ch when the stream dies; errs carries why.
type subscription struct {
	ch   chan netlink.NeighUpdate
	done chan struct{}
	errs chan error
}

// subscribe opens a stream that starts with a dump of the existing
// entries, so a fresh (or cleared) state converges to the kernel's.
func (t *Table) subscribe() (*subscription, error) {
	s := &subscription{
		ch:   make(chan netlink.NeighUpdate, 256),
		done: make(chan struct{}),
		errs: make(chan error, 1),
	}
	ns := t.ns
	err := netlink.NeighSubscribeWithOptions(s.ch, s.done, netlink.NeighSubscribeOptions{
		Namespace:    &ns,
		ListExisting: true,
		ErrorCallback: func(err error) {
			select {
			case s.errs <- err:
			default:
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("neigh: subscribe to neighbour events: %w", err)
	}
	return s, nil
}

// stop closes the stream. The library's reader goroutine may be blocked in
// recvmsg (closing the socket does not wake it) or on a full channel, so it
// is drained in the background until the reader notices and closes ch;
// waiting for it here could hold Close until the next neighbour event.
func (s *subscription) stop() {
	close(s.done)
	go func() {
		for range s.ch {
		}
	}()
}

// watch applies events until ctx ends. Events that arrive together are
// applied together and published once, so a burst (the initial dump, a
// link flap) costs one snapshot rebuild, not one per entry.
func (t *Table) watch(ctx context.Context, s *subscription) {
	for {
		select {
		case <-ctx.Done():
			s.stop()
			return
		case err := <-s.errs:
			// A lost event (ENOBUFS) or an interrupted dump: what we hold
			// may be wrong, so start over from a fresh dump.
			t.log.Warn("neighbour event stream failed; resynchronising", "err", err)
			s.stop()
			if s = t.resync(ctx); s == nil {
				return
			}
		case u, ok := <-s.ch:
			if !ok {
				// Closed without an error report (the errs send races
				// the close): treat it the same way.
				if s = t.resync(ctx); s == nil {
					return
				}
				continue
			}
			t.mu.Lock()
			changed := t.applyLocked(u)
		drain:
			for {
				select {
				case u, ok := <-s.ch:
					if !ok {
						break drain
					}
					changed = t.applyLocked(u) || changed
				default:
					break drain
				}
			}
			if changed {
				t.publish()
			}
			t.mu.Unlock()
		}
	}
}

func (t *Table) applyLocked(u netlink.NeighUpdate) bool {
	t.events.Add(1)
	return t.state.apply(u, t.links)
}

// resync subscribes again (retrying with backoff) and replaces the kernel
// entries with a fresh listing; gateway mappings are kept, they come from
// routes, not from events. It returns nil when ctx ends first.
func (t *Table) resync(ctx context.Context) *subscription {
	t.resyncs.Add(1)
	backoff := 100 * time.Millisecond
	for {
		s, err := t.subscribe()
		if err == nil {
			if err = t.reload(); err == nil {
				return s
			}
			s.stop()
		}
		t.log.Error("neighbour resynchronisation failed", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// reload lists the kernel's IPv4 and IPv6 neighbours and publishes them in place of
// the current entries. It runs after subscribing, so a change that races
// the listing still arrives as an event (the dump ListExisting asks for
// replays everything once more).
func (t *Table) reload() error {
	list, err := t.h.NeighList(0, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("neigh: list neighbours: %w", err)
	}
	list6, err := t.h.NeighList(0, netlink.FAMILY_V6)
	if err != nil {
		return fmt.Errorf("neigh: list IPv6 neighbours: %w", err)
	}
	list = append(list, list6...)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.state.kernel = make(map[key]packet.MAC, len(list))
	for _, n := range list {
		t.state.apply(netlink.NeighUpdate{Type: unix.RTM_NEWNEIGH, Neigh: n}, t.links)
	}
	t.publish()
	return nil
}
