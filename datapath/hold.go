package datapath

import (
	"time"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// HoldConfig bounds the packets a worker holds for next hops whose MAC is
// not resolved yet, instead of dropping the first packets of every flow
// toward a new next hop. OVN's ovn-controller buffers the same way
// (controller/mac-cache.c: 4 packets per next hop, 1000 next hops, 10 s).
// The zero value takes the defaults below.
type HoldConfig struct {
	// PerHop is the most packets held for one next hop (default 4, as
	// OVN's BUFFER_QUEUE_DEPTH). Further ones are dropped (tail drop: the
	// first packets of a flow, a SYN or a query, are the ones to keep).
	PerHop int
	// Total is the most packets one worker holds over all next hops
	// (default 64); it is also the number of next hops held at once.
	Total int
	// Timeout is how long a next hop's packets wait for its MAC (default
	// 3 s: the kernel gives up ARP after mcast_solicit (3) probes one
	// retrans_time (1 s) apart, so nothing older could ever be sent).
	Timeout time.Duration
	// FrameSize is the largest frame held (default: room for the
	// external MTU, at least 1518 bytes). Longer ones are dropped as
	// neighbor-miss.
	FrameSize int
	// Disabled drops on a miss, as before holding existed.
	Disabled bool
}

// Hold defaults.
const (
	DefaultHoldPerHop  = 4
	DefaultHoldTotal   = 64
	DefaultHoldTimeout = 3 * time.Second
)

func (c HoldConfig) withDefaults(externalMTU int) HoldConfig {
	if c.PerHop <= 0 {
		c.PerHop = DefaultHoldPerHop
	}
	if c.Total <= 0 {
		c.Total = DefaultHoldTotal
	}
	c.PerHop = min(c.PerHop, c.Total)
	if c.Timeout <= 0 {
		c.Timeout = DefaultHoldTimeout
	}
	if c.FrameSize <= 0 {
		c.FrameSize = max(externalMTU, 1500) + packet.EthernetLen + 4
	}
	return c
}

// holdQueue holds copies of frames per unresolved next hop, in memory it
// allocates once: a worker's slab of Total slots of FrameSize bytes and a
// table of Total next hops. A frame is copied out of its receive buffer
// (an AF_XDP chunk the engine releases after the batch), so the queue
// never keeps a UMEM frame. It is owned by one worker goroutine.
type holdQueue struct {
	cfg     HoldConfig
	timeout int64
	slab    []byte
	lens    []int
	free    []int32 // stack of free slots
	hops    []heldHop
	nHops   int // hops in use, hops[:nHops]
	held    int // frames held over all hops
	// neighVer is the neighbour table's version at the last lookup of the
	// held hops; nextCheck when they are looked up again regardless.
	neighVer  uint64
	nextCheck int64
}

// heldHop is one unresolved next hop: its frames in arrival order.
type heldHop struct {
	key      hopKey
	deadline int64 // frames still held then are dropped
	ask      int64 // when to ask the neighbour table to resolve it again
	slots    []int32
}

func newHoldQueue(cfg HoldConfig) *holdQueue {
	q := &holdQueue{
		cfg:     cfg,
		timeout: int64(cfg.Timeout),
		slab:    make([]byte, cfg.Total*cfg.FrameSize),
		lens:    make([]int, cfg.Total),
		free:    make([]int32, cfg.Total),
		hops:    make([]heldHop, cfg.Total),
	}
	for i := range q.free {
		q.free[i] = int32(cfg.Total - 1 - i)
	}
	for i := range q.hops {
		q.hops[i].slots = make([]int32, 0, cfg.PerHop)
	}
	return q
}

// frame returns slot s's frame.
func (q *holdQueue) frame(s int32) []byte {
	off := int(s) * q.cfg.FrameSize
	return q.slab[off : off+q.lens[s]]
}

// hopKey names a held next hop of either family: an IPv6 address (v6),
// or an IPv4 one in ip's last four bytes, so that an IPv4 next hop and an
// IPv6 one never share a queue, whatever their bytes.
type hopKey struct {
	ip packet.IP6
	v6 bool
}

// hopKey4 and hopKey6 are the keys of an IPv4 and of an IPv6 next hop.
func hopKey4(ip packet.IP4) hopKey {
	return hopKey{ip: packet.IP6{12: ip[0], 13: ip[1], 14: ip[2], 15: ip[3]}}
}

func hopKey6(ip packet.IP6) hopKey { return hopKey{ip: ip, v6: true} }

// ip4 is the IPv4 next hop of a key that is not v6.
func (k hopKey) ip4() packet.IP4 { return packet.IP4(k.ip[12:16]) }

// find returns the index of ip's hop, or -1.
func (q *holdQueue) find(ip packet.IP4) int { return q.findKey(hopKey4(ip)) }

// findKey returns the index of k's hop, or -1.
func (q *holdQueue) findKey(k hopKey) int {
	for i := 0; i < q.nHops; i++ {
		if q.hops[i].key == k {
			return i
		}
	}
	return -1
}

// holdResult says what became of a frame offered to the queue.
type holdResult uint8

const (
	holdOK     holdResult = iota // copied; the caller may release the original
	holdFull                     // no room: per hop or in total
	holdTooBig                   // longer than a slot
)

// add copies frame into ip's queue, opening one if needed.
func (q *holdQueue) add(ip packet.IP4, frame []byte, now int64) holdResult {
	return q.addKey(hopKey4(ip), frame, now)
}

// addKey copies frame into k's queue, opening one if needed.
func (q *holdQueue) addKey(k hopKey, frame []byte, now int64) holdResult {
	if len(frame) > q.cfg.FrameSize {
		return holdTooBig
	}
	i := q.findKey(k)
	if i < 0 {
		if q.nHops == len(q.hops) || len(q.free) == 0 {
			return holdFull
		}
		i = q.nHops
		q.nHops++
		h := &q.hops[i]
		h.key, h.deadline, h.ask, h.slots = k, now+q.timeout, now+holdAsk, h.slots[:0]
	}
	h := &q.hops[i]
	if len(h.slots) == cap(h.slots) || len(q.free) == 0 {
		return holdFull
	}
	s := q.free[len(q.free)-1]
	q.free = q.free[:len(q.free)-1]
	off := int(s) * q.cfg.FrameSize
	q.lens[s] = copy(q.slab[off:off+q.cfg.FrameSize], frame)
	h.slots = append(h.slots, s)
	q.held++
	return holdOK
}

// holding reports whether ip has frames waiting, which a packet toward it
// must queue behind to keep their order.
func (q *holdQueue) holding(ip packet.IP4) bool { return q.holdingKey(hopKey4(ip)) }

// holdingKey is holding for either family.
func (q *holdQueue) holdingKey(k hopKey) bool { return q.held > 0 && q.findKey(k) >= 0 }

// release frees hop i's slots and removes it, keeping hops[:nHops] dense.
func (q *holdQueue) release(i int) {
	h := &q.hops[i]
	q.free = append(q.free, h.slots...)
	q.held -= len(h.slots)
	h.slots = h.slots[:0]
	last := q.nHops - 1
	if i != last {
		// Swap the slot slices too, so that each hop keeps a backing
		// array of its own.
		q.hops[i], q.hops[last] = q.hops[last], q.hops[i]
	}
	q.nHops--
}

// holdFrame keeps a copy of frame, whose next hop k (IPv4 or IPv6) has no
// MAC yet, to be sent when it resolves (the neighbour table has already
// started resolution). Planning packets are never held.
func (w *Worker) holdFrame(c *pktCtx, frame []byte, k hopKey) Drop {
	if w.hold == nil || c.planning {
		return DropNeighMiss
	}
	switch w.hold.addKey(k, frame, c.now) {
	case holdOK:
		return w.held(c)
	case holdFull:
		return DropNeighHoldFull
	default:
		return DropNeighMiss
	}
}

// held sets the verdict of a packet the hold queue copied.
func (w *Worker) held(c *pktCtx) Drop {
	c.pkt.Verdict = VerdictHeld
	w.c.held++
	return DropNone
}

// holdAsk is how often a held next hop that is still unresolved is
// looked up with side effects (Lookup, which queues a resolution request)
// rather than peeked at.
const holdAsk = int64(time.Second)

// holdRecheck is how often held next hops are looked up again even when
// the neighbour table's version did not move (OVN: 100 ms).
const holdRecheck = int64(100 * time.Millisecond)

// Ready hands back held frames whose next hop has resolved, with the MAC
// written, as TX packets in out, and drops (counted) those held past the
// timeout. A returned packet's Buf is the worker's hold memory: it stays
// valid until the next call of Ready or Process, so the caller copies it
// into a TX frame before either. pending reports frames still held: the
// caller should come back soon (holdRecheck at most) even when idle.
// Ready runs on the worker's goroutine, like Process.
func (w *Worker) Ready(out []Packet) (n int, pending bool) {
	q := w.hold
	if q == nil || q.held == 0 {
		return 0, false
	}
	now := w.p.clock()
	if w.p.neighVer != nil {
		v := w.p.neighVer.Version()
		if v == q.neighVer && now < q.nextCheck {
			return 0, true
		}
		q.neighVer = v // read before the lookups below: see neigh.Table.publish
	}
	q.nextCheck = now + holdRecheck
	for i := 0; i < q.nHops; {
		h := &q.hops[i]
		mac, ok := w.peekNeigh(h.key)
		if !ok && now >= h.ask {
			// The miss that held the first frame asked for resolution;
			// ask again now and then (a table that rate-limits its
			// requests may have ignored that one), as new packets would.
			mac, ok = w.lookupNeigh(h.key)
			h.ask = now + holdAsk
		}
		if !ok {
			if now >= h.deadline {
				w.c.drops[DropNeighTimeout] += uint64(len(h.slots))
				q.release(i)
				continue // hops[i] is now another hop
			}
			q.nextCheck = min(q.nextCheck, h.deadline)
			i++
			continue
		}
		k := 0
		for ; k < len(h.slots) && n < len(out); k++ {
			s := h.slots[k]
			f := q.frame(s)
			packet.Ethernet(f).SetDst(mac)
			off := int(s) * q.cfg.FrameSize
			out[n] = Packet{Buf: q.slab[off : off+q.cfg.FrameSize], Len: len(f),
				InPort: flow.Underlay, Verdict: VerdictTX, OutPort: flow.External}
			n++
		}
		w.c.holdSent += uint64(k)
		w.c.tx[flow.External] += uint64(k)
		if k == len(h.slots) {
			q.release(i)
			continue
		}
		// out is full: free what was handed out, keep the rest in order.
		q.free = append(q.free, h.slots[:k]...)
		q.held -= k
		h.slots = h.slots[:copy(h.slots, h.slots[k:])]
		q.nextCheck = now
		break
	}
	w.pub.store(&w.c)
	return n, q.held > 0
}

// peekNeigh looks k up without asking for resolution again (if the
// neighbour table can: neigh.Table's Peek and Peek6).
func (w *Worker) peekNeigh(k hopKey) (packet.MAC, bool) {
	if k.v6 {
		if pk, ok := w.p.neigh6.(interface {
			Peek6(packet.IP6) (packet.MAC, bool)
		}); ok {
			return pk.Peek6(k.ip)
		}
		return w.p.neigh6.Lookup6(k.ip)
	}
	if w.p.neighPeek != nil {
		return w.p.neighPeek.Peek(k.ip4())
	}
	return w.p.neigh.Lookup(k.ip4())
}

// lookupNeigh looks k up, asking for resolution on a miss. An IPv6 hop is
// only ever held when the pipeline has an IPv6 neighbour table
// (toExternal6).
func (w *Worker) lookupNeigh(k hopKey) (packet.MAC, bool) {
	if k.v6 {
		return w.p.neigh6.Lookup6(k.ip)
	}
	return w.p.neigh.Lookup(k.ip4())
}
