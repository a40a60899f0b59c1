package afxdp_test

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"time"

	"github.com/xgw-dev/xgw/datapath/afxdp"
)

// Test payload: magic, seq, flag (set by the reflector), then a body that is
// a pure function of seq, so the receiver can check every byte.
const (
	magic       = 0x5847_5749 // "XGWI"
	hdrLen      = 16
	flagOff     = 12
	minPayload  = 18
	payloadSpan = 1400 - minPayload
)

func payloadLen(seq uint64) int { return minPayload + int(seq*2654435761%payloadSpan) }

func fillPayload(b []byte, seq uint64) {
	binary.BigEndian.PutUint32(b[0:], magic)
	binary.BigEndian.PutUint64(b[4:], seq)
	binary.BigEndian.PutUint32(b[flagOff:], 0)
	x := seq*0x9E3779B97F4A7C15 | 1
	for i := hdrLen; i < len(b); i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
}

// checkPayload returns the seq and whether b is exactly what fillPayload
// wrote plus the reflector's flag.
func checkPayload(b []byte, scratch []byte) (uint64, bool) {
	if len(b) < minPayload || binary.BigEndian.Uint32(b) != magic {
		return 0, false
	}
	seq := binary.BigEndian.Uint64(b[4:])
	if len(b) != payloadLen(seq) || binary.BigEndian.Uint32(b[flagOff:]) != 1 {
		return seq, false
	}
	want := scratch[:len(b)]
	fillPayload(want, seq)
	return seq, string(want[hdrLen:]) == string(b[hdrLen:])
}

// csumUpdate is RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
func csumUpdate(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s)
}

// reflectUDP turns a received IPv4/UDP frame around in place the way the
// pipeline edits packets: MACs set, addresses and ports swapped, TTL
// decremented and a payload word changed, with incremental checksums.
func reflectUDP(p []byte, src, dst net.HardwareAddr) bool {
	if len(p) < 14+20+8+minPayload || binary.BigEndian.Uint16(p[12:]) != 0x0800 || p[14+9] != 17 {
		return false
	}
	copy(p[0:6], dst)
	copy(p[6:12], src)
	ip := p[14:]
	ihl := int(ip[0]&0xf) * 4
	var a [4]byte
	copy(a[:], ip[12:16])
	copy(ip[12:16], ip[16:20])
	copy(ip[16:20], a[:])
	old := binary.BigEndian.Uint16(ip[8:])
	ip[8]--
	binary.BigEndian.PutUint16(ip[10:], csumUpdate(binary.BigEndian.Uint16(ip[10:]), old, binary.BigEndian.Uint16(ip[8:])))
	udp := ip[ihl:]
	sp := binary.BigEndian.Uint16(udp[0:])
	copy(udp[0:2], udp[2:4])
	binary.BigEndian.PutUint16(udp[2:], sp)
	w := udp[8+flagOff+2:]
	old = binary.BigEndian.Uint16(w)
	binary.BigEndian.PutUint16(w, 1)
	if c := binary.BigEndian.Uint16(udp[6:]); c != 0 {
		c = csumUpdate(c, old, 1)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(udp[6:], c)
	}
	return true
}

// reflector serves one queue: receive a batch, edit, send back in place on
// in, or copy into out's frames when out is set.
type reflector struct {
	in, out  afxdp.Port
	src, dst net.HardwareAddr
	stop     atomic.Bool
	frames   atomic.Uint64
	dropped  atomic.Uint64 // frames the reflector itself gave up on
	err      error
}

func (r *reflector) run() {
	rx := make([]afxdp.Frame, 64)
	tx := make([]afxdp.Frame, 64)
	for !r.stop.Load() {
		n, err := r.in.Receive(rx)
		if err != nil {
			r.err = err
			return
		}
		if n == 0 {
			if err := r.in.Poll(20 * time.Millisecond); err != nil {
				r.err = err
				return
			}
			continue
		}
		r.frames.Add(uint64(n))
		if r.out == nil {
			for i := range rx[:n] {
				f := &rx[i]
				reflectUDP(r.in.Buf(f)[f.Off:f.Off+f.Len], r.src, r.dst)
			}
			r.send(r.in, rx[:n])
			continue
		}
		m := r.out.Alloc(tx[:n])
		for i := range tx[:m] {
			in, out := &rx[i], &tx[i]
			out.Len = copy(r.out.Buf(out)[out.Off:], r.in.Buf(in)[in.Off:in.Off+in.Len])
			reflectUDP(r.out.Buf(out)[out.Off:out.Off+out.Len], r.src, r.dst)
		}
		r.in.Release(rx[:n])
		r.dropped.Add(uint64(n - m))
		r.send(r.out, tx[:m])
	}
}

// send transmits all of fs, waiting briefly for TX ring space; what still
// does not fit is released and counted.
func (r *reflector) send(p afxdp.Port, fs []afxdp.Frame) {
	for spins := 0; len(fs) > 0; spins++ {
		k, err := p.Transmit(fs)
		if err != nil {
			r.err = err
		}
		fs = fs[k:]
		if k == 0 {
			if spins > 1000 || err != nil {
				p.Release(fs)
				r.dropped.Add(uint64(len(fs)))
				return
			}
			p.Poll(0)
		}
	}
}
