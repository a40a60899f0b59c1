package engine

import (
	"errors"
	"log/slog"
	"time"

	"github.com/xgw-dev/xgw/datapath"
	"github.com/xgw-dev/xgw/datapath/afxdp"
	"github.com/xgw-dev/xgw/packet"
)

// Processor runs a batch to verdicts; *datapath.Worker is one. Each worker
// goroutine gets its own from Config.NewProcessor.
type Processor interface {
	Process(batch []datapath.Packet)
}

// Expirer is the conntrack table's expiry; *conntrack.Table is one.
type Expirer interface {
	Expire(now int64) int
}

// Config is what an Engine runs.
type Config struct {
	// Underlay and External are interface names in the calling thread's
	// network namespace; they may be the same interface.
	Underlay, External string
	// VTEP and GenevePort tell underlay traffic from external traffic when
	// both sides share one interface: UDP to VTEP:GenevePort is underlay,
	// everything else external. GenevePort 0 means 6081.
	VTEP       packet.IP4
	GenevePort uint16

	// NewProcessor returns the pipeline worker for one goroutine, usually
	// func() engine.Processor { return pipeline.NewWorker() }.
	NewProcessor func() Processor
	// Register puts the socket of (ifname, queue) into the XSKMAP of the
	// XDP program attached to ifname.
	Register func(ifname string, queue, fd int) error
	// Conntrack is expired every ExpireInterval; nil disables expiry.
	Conntrack Expirer
	// Clock returns nanoseconds, the same clock the pipeline uses; nil
	// means the wall clock.
	Clock func() int64

	Port           afxdp.Config  // per-socket sizes; zero fields take afxdp's defaults
	Queues         int           // RX queues per interface to serve; 0 = all the interface has
	BatchSize      int           // frames per Receive; 0 = 64
	PollTimeout    time.Duration // longest idle sleep; 0 = 50ms (also the stop latency)
	ExpireInterval time.Duration // 0 = 1s
	Logger         *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Underlay == "" || c.External == "" {
		return errors.New("engine: underlay and external interface names are required")
	}
	if c.NewProcessor == nil || c.Register == nil {
		return errors.New("engine: NewProcessor and Register are required")
	}
	if c.GenevePort == 0 {
		c.GenevePort = 6081
	}
	if c.Clock == nil {
		c.Clock = func() int64 { return time.Now().UnixNano() }
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 64
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = 50 * time.Millisecond
	}
	if c.ExpireInterval <= 0 {
		c.ExpireInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
