// Package conntrack is xgw's zoned connection table. It follows the
// semantics of Open vSwitch's userspace conntrack (lib/conntrack*.c): OVS
// ct_state bits, per-zone keys, a pf-derived TCP state machine with window
// tracking, UDP/"other" and ICMP echo state machines, OVS default timeouts
// and the `ovs-appctl dpctl/dump-conntrack` text format, so that operators
// can diff xgw against an OVS gateway.
//
// One deliberate difference from OVS userspace: a packet is +est only once
// its connection has seen traffic in both directions (the kernel's rule and
// the one OVN relies on). OVS userspace marks the third one-way UDP packet
// +est; the kernel, and xgw, keep one-way flows +new.
//
// # Memory layout
//
// Everything is allocated once, in NewTable, for Config.Capacity connections;
// the table holds no Go maps and no per-connection heap objects, so the GC
// never scans it (all arrays are pointer-free).
//
//   - entries []entry: a slab of fixed-size 112-byte records indexed by
//     uint32: both tuples (2×16), expiry (8), packet and byte counters per
//     direction (4×8), expiry-list links (2×4), two TCP peers (2×12: seqlo,
//     seqhi, max window, window scale, state; ICMP reuses them for the
//     request type), mark (4), handle generation (2), timeout class (1),
//     flags (1: reply seen, liberal, held, snat, dnat).
//   - slots []uint32: an open-addressing (linear probing, backward-shift
//     delete) index holding both the orig and the reply key of every
//     connection. 3 slots per connection (load ≤ 2/3) of 4 bytes each: the
//     low bits name entry*2+dir, the high bits are a tag taken from the
//     hash so that most probes never touch an entry. 12 bytes/connection.
//
// Total: 124 bytes per connection of capacity (BenchmarkConntrackMemory
// measures it, and per flow: 248 bytes, a flow having a connection in
// each of its router's two zones). The shards add a few hundred bytes
// each, nothing per connection.
//
// # IPv6
//
// IPv6 connections live in a table of their own (Table6, NewTable6), the
// same code stenciled for Tuple6 (40 bytes: two 16-byte addresses and the
// same 8-byte tail of ports, protocol and zone as Tuple). The table is
// generic over its tuple type (table[T tupleKey], tuple.go); the few
// places where the families' bytes differ (reading a tuple as words,
// hashing, comparing) test is4[T](), a constant in each stenciled copy,
// so the IPv4 table compiles to the code it had before IPv6 and keeps its
// 112-byte entries. An IPv6 entry is 160 bytes (2×40 of tuples and the
// same 80 of state), plus the same 12 bytes of index: 172 bytes per
// connection, 344 per flow (BenchmarkConntrackMemory6 measures ~173 of
// resident memory per connection, BenchmarkConntrackMemory ~127 for
// IPv4). A lookup costs about twice the IPv4 one in the microbenchmark
// (BenchmarkConntrackLookup6): the entry spans one more cache line. ICMPv6 echo is
// tracked by identifier as ICMP echo is (request 128, reply 129); ICMPv6
// errors are related through their quoted tuple (LookupRelated). Dumps
// print IPv6 as OVS does ("icmpv6", src=fd00::5); Tables dumps a
// gateway's two tables as one listing (by zone, IPv4 first in a zone) and
// counts zones over both.
//
// # Expiry
//
// As in OVS userspace, each timeout class (SYN_SENT, ESTABLISHED, UDP
// first, ...) has its own FIFO list per shard. Every class has one fixed timeout, so
// appending a refreshed connection at the tail keeps each list sorted by
// expiry, and Expire only pops heads: its cost is O(expired) plus one look
// per list, independent of the number of idle connections. Callers with slightly different clocks
// (several workers, or Touch with a past lastSeen) can leave a list a little
// out of order; a connection is then reaped late by at most that skew, never
// early, and Lookup never returns a connection whose expiry has passed.
//
// # Concurrency
//
// The table is split into shards (shard.go), as OVS's userspace conntrack
// split its table into buckets, each with its own lock, connections and
// expiry lists (lib/conntrack.c, CONNTRACK_BUCKETS, OVS 2.6 to 2.12). A
// shard owns a segment of the slab (the connections allocated there, with
// their free list and expiry lists) and a region of the index (the keys
// whose hash falls there). A lookup probes the index without a lock
// (atomic slot and tuple reads; a per-region sequence, odd while an erase
// shifts keys, sends it to the locked probe when it raced one) and updates
// the connection under its owner's lock (a connection is allocated in its
// orig key's shard when there is room); creating or removing a connection
// holds the owner and both keys' regions, locked in ascending order. A miss
// and a NAT Taken probe take no lock at all. Handle updates (UpdatePair, Touch)
// take only the owner's lock. Tables below 2048 connections have one
// shard; larger ones up to 8 (maxShards says why not more), each of at
// least 1024 connections; segments are equal but for the last, which
// takes the rest, so the table holds exactly its capacity. Commit
// chooses the NAT reply without a lock and checks it again under the
// insert's locks, asking the chooser again
// if another worker took it meanwhile. Range copies in small chunks under
// one shard's lock, and Expire sweeps the shards in rounds of a few
// removals per shard and hold, so neither dumps nor expiry stall workers
// for long.
//
// Lock order: shard locks in ascending order, then a Releaser's own lock
// (NAT's mapping table: Release runs under shard locks). A ReplyChooser
// may hold that lock while it calls Taken, because Taken never waits for
// a shard lock (it probes lock-free and only tries locks). An expiry that
// backs off its locks to take them in order checks the expiry again once
// it holds them. A commit that loses its insert after its chooser called
// Holder.Hold gives the reference back through the Releaser.
//
// Handles are uint32: the low bits index the slab, the high bits are a
// per-slot generation, bumped on every free; freed slots are reused in FIFO
// order, so a stale handle fails validation until the slot has been reused
// 2^genBits times.
package conntrack
