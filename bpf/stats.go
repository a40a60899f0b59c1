package bpf

import "fmt"

// Counter is a packet and byte count.
type Counter struct {
	Packets, Bytes uint64
}

// Stats are xdp_gw's verdict counters summed over CPUs.
type Stats struct {
	RedirectGeneve Counter // Geneve to our VTEP, sent to the XSK
	RedirectNAT    Counter // to a NAT address, sent to the XSK
	Pass           Counter // not ours, up the stack
	NoSocket       Counter // ours, but no XSK on that queue: passed
	Malformed      Counter // truncated or bad headers: passed
}

// indices match enum xgw_stat in include/stats.h.
const (
	statRedirectGeneve = iota
	statRedirectNAT
	statPass
	statNoSocket
	statMalformed
	statMax
)

// Stats reads the per-CPU counters.
func (o *Objects) Stats() (Stats, error) {
	var s Stats
	dst := [statMax]*Counter{&s.RedirectGeneve, &s.RedirectNAT, &s.Pass, &s.NoSocket, &s.Malformed}
	var per []gwXgwCounter
	for i := uint32(0); i < statMax; i++ {
		if err := o.objs.Stats.Lookup(i, &per); err != nil {
			return Stats{}, fmt.Errorf("bpf: read stats[%d]: %w", i, err)
		}
		for _, c := range per {
			dst[i].Packets += c.Packets
			dst[i].Bytes += c.Bytes
		}
	}
	return s, nil
}
