// Package engine runs the datapath pipeline on AF_XDP sockets.
//
// For every RX queue index q it starts one goroutine, locked to its OS
// thread, that owns the AF_XDP port of queue q on the underlay interface
// and, when the external interface is a different one, the port of queue q
// there too. Owning both sides is what lets a worker forward from one
// interface to the other without handing frames to another goroutine:
//
//	Receive a batch on a port
//	  → datapath.Packet{Buf: UMEM chunk, Off/Len: descriptor, InPort}
//	  → touch every frame's first two lines (the cross-core misses overlap)
//	  → Processor.Process (datapath.Worker: decap, route, conntrack, NAT, encap)
//	  → VerdictTX to the same interface: Queue the chunk in place
//	    VerdictTX to the other interface: Alloc there, copy, Queue
//	    VerdictDrop: Release
//	    VerdictPass: Release, counted as "pass-after-redirect"
//	    VerdictHeld: Release (the pipeline kept a copy, see below)
//	  → after each round over the ports: Flush the ports with >= 32 frames
//	    queued; before sleeping, all of them (sendto only if need_wakeup)
//
// Per packet the loop allocates nothing (TestWorkerZeroAllocs, on live
// rings). Its counters are plain and published every 16 batches and
// whenever it goes idle, so Stats lags a busy worker by at most 16
// batches and is exact once traffic pauses. Run raises GOMAXPROCS to one
// more than the workers when the CPU affinity mask gave fewer (procsFor).
//
// The sockets' default sizes (afxdp.Config, config section afxdp) let a
// worker stall 200 ms at 27 kpps without a drop (TestStallLosesNothing),
// at 32 MiB of UMEM per socket.
//
// A Processor that holds packets back (engine.Holder; datapath.Worker holds
// frames whose external next hop has no MAC yet) is asked after every
// round for the ones that may leave; they are copied into TX frames of
// their port, never kept in UMEM. While it holds any, the worker sleeps at
// most a millisecond, so they leave soon after the neighbour resolves.
//
// A frame in an AF_XDP socket has left the kernel stack for good, so a
// pass verdict cannot be honoured; xdp_gw only redirects Geneve to our
// VTEP and traffic to NAT addresses, which the pipeline always handles, so
// the counter should stay at (about) zero.
//
// When the interfaces have different queue counts, queue q of the one with
// fewer queues is shared by the workers q, q+n, ...; every port therefore
// has a mutex, which is uncontended (one lock per batch) in the usual case
// of equal queue counts.
package engine
