package nat

import (
	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/packet"
)

// hasIDs reports whether proto's tuples carry a port (TCP, UDP) or an echo
// identifier (ICMP) that SNAT may translate. Other protocols get the address
// only, so their tuples can collide and then fail, as in OVS.
func hasIDs(proto uint8) bool {
	return proto == packet.ProtoTCP || proto == packet.ProtoUDP || proto == packet.ProtoICMP
}

// candidate is orig's reply with the translated source (the reply's
// destination) set to ip:port. ICMP echo keeps both id fields equal, because
// conntrack keys echo by the id in both.
func candidate(reply conntrack.Tuple, ip packet.IP4, port uint16) conntrack.Tuple {
	reply.Dst = ip
	reply.DstPort = port
	if reply.Proto == packet.ProtoICMP {
		reply.SrcPort = port
	}
	return reply
}

// allocPort finds a free port for reply on ip within [lo, hi]. It keeps
// want (the original source port) when in range and free, because
// applications and peers behave better when NAT is invisible; otherwise it
// probes every port once from a start derived from start, wrapping, like
// OVS nat_get_unique_tuple and Linux nf_nat_l4proto_unique_tuple. Probing
// the whole range makes exhaustion exact rather than probabilistic; it only
// runs for new connections. Ports that res reserves for endpoint-independent
// mappings are skipped (res is nil, or its lock is held).
func allocPort(reply conntrack.Tuple, ip packet.IP4, lo, hi, want uint16, start uint64, taken conntrack.Taken, res *Mappings) (conntrack.Tuple, bool) {
	free := func(port uint16) bool {
		return res == nil || !res.reserved(reply.Zone, reply.Proto, ip, port)
	}
	if want >= lo && want <= hi && free(want) {
		if c := candidate(reply, ip, want); !taken.Taken(c) {
			return c, true
		}
	}
	size := uint32(hi) - uint32(lo) + 1
	off := uint32(start % uint64(size))
	for i := uint32(0); i < size; i++ {
		port := uint16(uint32(lo) + (off+i)%size)
		if port == want || !free(port) {
			continue // already tried, or another endpoint's mapping
		}
		if c := candidate(reply, ip, port); !taken.Taken(c) {
			return c, true
		}
	}
	return conntrack.Tuple{}, false
}

// mix64 is the splitmix64 finaliser: cheap, allocation-free, and good
// enough to spread probe starts and address choices uniformly.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashAddr picks an external address for a logical host. It is unkeyed so
// that a host maps to the same external IP across restarts and gateways
// ("paired" pooling, RFC 4787 REQ-2): remote peers see one identity.
func hashAddr(src packet.IP4) uint64 { return mix64(uint64(src.Uint32())) }

// hashTuple starts the port probe. It is keyed by a per-rule secret so that
// an outsider cannot predict the ports of a host's next connections.
func hashTuple(t conntrack.Tuple, seed uint64) uint64 {
	a := uint64(t.Src.Uint32())<<32 | uint64(t.Dst.Uint32())
	b := uint64(t.SrcPort)<<48 | uint64(t.DstPort)<<32 | uint64(t.Proto)<<16 | uint64(t.Zone)
	return mix64(mix64(a^seed) ^ b)
}
