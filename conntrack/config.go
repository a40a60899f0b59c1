package conntrack

import (
	"errors"
	"time"
)

// Meta is what the state machines need from one packet. The caller fills it
// from packet.Parsed; it is pointer-free so it lives on the stack.
type Meta struct {
	Len        uint16 // IP total length, for byte counters
	TCPFlags   uint8
	Seq, Ack   uint32
	Win        uint16
	WScale     int8   // -1 if the segment carries no window-scale option
	PayloadLen uint16 // TCP payload bytes
	ICMPType   uint8
}

// Timeouts are the idle timeouts per connection state, named as in OVS
// timeout policies (ct_dpif_tp_attr).
type Timeouts struct {
	TCPSynSent, TCPSynRecv, TCPEstablished, TCPFinWait, TCPTimeWait, TCPClose time.Duration
	UDPFirst, UDPSingle, UDPMultiple                                          time.Duration
	ICMPFirst, ICMPReply                                                      time.Duration
}

// DefaultTimeouts returns OVS userspace conntrack's default policy
// (lib/conntrack-tp.c, ct_dpif_netdev_tp_def).
func DefaultTimeouts() Timeouts {
	return Timeouts{
		TCPSynSent:     30 * time.Second,
		TCPSynRecv:     30 * time.Second,
		TCPEstablished: 24 * time.Hour,
		TCPFinWait:     15 * time.Minute,
		TCPTimeWait:    45 * time.Second,
		TCPClose:       30 * time.Second,
		UDPFirst:       60 * time.Second,
		UDPSingle:      60 * time.Second,
		UDPMultiple:    30 * time.Second,
		ICMPFirst:      60 * time.Second,
		ICMPReply:      30 * time.Second,
	}
}

// DefaultCapacity is the connection limit when Config.Capacity is zero.
const DefaultCapacity = 1 << 20

// MaxCapacity bounds Config.Capacity so that a Handle keeps at least 8
// generation bits and an index slot at least 6 tag bits.
const MaxCapacity = 1 << 24

// Config sizes and tunes a Table.
type Config struct {
	Capacity   int      // hard maximum of connections; 0 means DefaultCapacity
	Timeouts   Timeouts // zero fields take DefaultTimeouts
	TCPLiberal bool     // skip TCP window checks (flags are still checked)
	// Prefault touches the whole table at creation (MAP_POPULATE), so that
	// no new connection pays a page fault later. xgw run sets it; tests,
	// which make many small tables, do not.
	Prefault bool
	// shards overrides the number of locks (shardCount), so that tests can
	// shard small tables.
	shards int
}

// Errors returned by Commit.
var (
	ErrFull    = errors.New("conntrack: table full")
	ErrNoReply = errors.New("conntrack: no reply tuple available")
	ErrInvalid = errors.New("conntrack: packet cannot create a connection")
)

// Stats are the table's counters.
type Stats struct {
	Capacity       int
	Entries        int    // live connections
	Created        uint64 // connections committed
	Expired        uint64 // connections removed by timeout
	Deleted        uint64 // connections removed by Delete or replaced by a new SYN
	FullDrops      uint64 // commits refused because the table was full
	NoReplyDrops   uint64 // commits refused because no reply tuple was available
	InvalidPackets uint64 // packets that got +inv
}
