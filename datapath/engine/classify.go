package engine

import (
	"encoding/binary"

	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/packet"
)

// classifier picks the pipeline input port of a frame from an interface
// that is both underlay and external. It repeats xdp_gw's test (IPv4, not
// a fragment, UDP to VTEP:port, at most one VLAN tag): Geneve to our VTEP
// is underlay, everything else xdp_gw redirected is NAT traffic, external.
type classifier struct {
	vtep packet.IP4
	port uint16
}

func (c *classifier) inPort(frame []byte) flow.Port {
	l2, ok := packet.ParseL2(frame)
	if !ok || l2.EtherType != packet.EtherTypeIPv4 {
		return flow.External
	}
	ip := frame[l2.L3Off:]
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
		return flow.External
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || len(ip) < ihl+8 || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return flow.External
	}
	if packet.IP4(ip[16:20]) != c.vtep || binary.BigEndian.Uint16(ip[ihl+2:]) != c.port {
		return flow.External
	}
	return flow.Underlay
}
