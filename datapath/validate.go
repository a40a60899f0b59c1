package datapath

import "github.com/xgw-dev/xgw/packet"

// validate applies a router's input checks to a decoded IPv4 packet before
// anything tracks or forwards it, as OVN's lr_in_ip_input and RFC 1812 do:
// a header whose checksum is wrong is discarded (5.2.2), and so are
// martians (5.3.7): sources in 0/8, 127/8, multicast, class E (limited
// broadcast included) or the router's own addresses; destinations in
// 0/8, 127/8, multicast, class E, limited broadcast or the broadcast
// address of one of the router's connected subnets.
//
// The XDP fast path only forwards connections the pipeline established,
// whose addresses passed these checks, and repeats the header checksum and
// fixed martian checks per packet (bpf/include/validate.h).
func validate(rp *routerPlan, frame []byte, p *packet.Parsed) Drop {
	if !p.IP(frame).ChecksumValid() {
		return DropIPChecksum
	}
	if martian(p.Src) || rp.owns(p.Src) {
		return DropMartianSource
	}
	if martian(p.Dst) || rp.isBroadcast(p.Dst) {
		return DropMartianDest
	}
	return DropNone
}

// martian reports an address that is never a unicast host on the path
// through a router: this network (0/8), loopback (127/8), multicast (224/4)
// and class E (240/4, with 255.255.255.255).
func martian(a packet.IP4) bool { return a[0] == 0 || a[0] == 127 || a[0] >= 224 }

// owns reports whether a is one of the router's own port addresses.
func (rp *routerPlan) owns(a packet.IP4) bool {
	for _, port := range rp.r.Ports {
		if port.IP == a {
			return true
		}
	}
	return false
}

// isBroadcast reports whether a is the directed broadcast address of one of
// the router's connected subnets (those of /30 and wider: /31 and /32 have
// none, RFC 3021).
func (rp *routerPlan) isBroadcast(a packet.IP4) bool {
	for _, b := range rp.bcast {
		if b == a {
			return true
		}
	}
	return false
}
