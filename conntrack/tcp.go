package conntrack

// TCP tracking is OVS's conntrack-tcp.c, itself pf's: each direction is a
// peer with the highest sequence number it sent (seqlo), the highest one
// the other end allowed it (seqhi), its largest window and its window
// scale. A segment must fall inside those bounds (Guido van Rooij's
// algorithm) or it is +inv and changes nothing.

// tcpPeer is one direction's view; 12 bytes.
type tcpPeer struct {
	seqlo  uint32   // max sequence number sent
	seqhi  uint32   // max the other end ACKed + window
	maxWin uint16   // largest window (pre scaling)
	wscale uint8    // wsFlag|scale, or wsUnknown for mid-stream pickups
	state  TCPState // TCPClosed...TCPTimeWait
}

// TCPState is a TCP state, numbered as OVS's ct_dpif_tcp_state so that
// the comparisons below read as in conntrack-tcp.c; later states have
// larger numbers. A peer (one direction) uses only CLOSED, SYN_SENT,
// ESTABLISHED, CLOSING, FIN_WAIT_2 and TIME_WAIT; a connection's state
// (ConnInfo.TCP) is the two coalesced, as OVS prints it.
type TCPState uint8

const (
	TCPClosed TCPState = iota
	TCPListen
	TCPSynSent
	TCPSynRecv
	TCPEstablished
	TCPCloseWait
	TCPFinWait1
	TCPClosing
	TCPLastAck
	TCPFinWait2
	TCPTimeWait
)

var tcpStateNames = [...]string{
	"CLOSED", "LISTEN", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT",
	"FIN_WAIT_1", "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT",
}

// String returns OVS's name of s ("ESTABLISHED"), as dumps print it.
func (s TCPState) String() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "UNKNOWN"
}

// coalesceTCP is the state OVS prints for a connection without -m: the
// later of the two peers' states, with FIN_WAIT_2 shown as TIME_WAIT and
// SYN_RECV as ESTABLISHED (ct-dpif.c, coalesce_tcp_state).
func coalesceTCP(a, b TCPState) TCPState {
	s := max(a, b)
	switch s {
	case TCPFinWait2:
		s = TCPTimeWait
	case TCPSynRecv:
		s = TCPEstablished
	}
	return s
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
	tcpURG = 0x20

	maxWScale    = 14
	wsFlag       = 0x80
	wsUnknown    = 0x40
	wsMask       = 0x0f
	maxAckWindow = 0xffff + 1500 // 1500 is pf's arbitrary fudge factor
)

func seqGEQ(a, b uint32) bool { return int32(a-b) >= 0 }
func seqGT(a, b uint32) bool  { return int32(a-b) > 0 }

// tcpInvalidFlags rejects flag combinations no stack sends (pf's
// pf_normalize_tcp checks).
func tcpInvalidFlags(f uint8) bool {
	if f&tcpSYN != 0 {
		if f&(tcpRST|tcpFIN) != 0 {
			return true
		}
	} else if f&(tcpACK|tcpRST) == 0 {
		return true
	}
	return f&tcpACK == 0 && f&(tcpFIN|tcpPSH|tcpURG) != 0
}

// tcpValidNew allows a SYN or a mid-stream segment to create a
// connection, but not a SYN+ACK: a half-open handshake is not a pickup.
func tcpValidNew(f uint8) bool {
	return !tcpInvalidFlags(f) && f&(tcpSYN|tcpACK) != tcpSYN|tcpACK
}

// metaWScale encodes the segment's window-scale option as a peer's wscale.
func metaWScale(m *Meta) uint8 {
	if m.WScale < 0 {
		return 0
	}
	return uint8(min(m.WScale, maxWScale)) | wsFlag
}

func divRoundUp(a, b uint32) uint32 { return (a + b - 1) / b }

// tcpNew initialises the peers for the segment that creates a connection.
func tcpNew(e *conn, m *Meta) class {
	src, dst := &e.tcp[0], &e.tcp[1]
	src.seqlo = m.Seq
	src.seqhi = m.Seq + uint32(m.PayloadLen) + 1
	if m.TCPFlags&tcpSYN != 0 {
		src.seqhi++
		src.wscale = metaWScale(m)
	} else {
		// Picked up mid-stream: the scales were in SYNs we never saw.
		src.wscale = wsUnknown
		dst.wscale = wsUnknown
	}
	src.maxWin = max(m.Win, 1)
	if sws := src.wscale & wsMask; sws != 0 {
		src.maxWin = uint16(divRoundUp(uint32(src.maxWin), 1<<sws))
	}
	if m.TCPFlags&tcpFIN != 0 {
		src.seqhi++
	}
	dst.seqhi = 1
	dst.maxWin = 1
	src.state = TCPSynSent
	dst.state = TCPClosed
	return clsTCPSynSent
}

// tcpUpdate runs one segment in direction dir through the state machine
// (tcp_conn_update). It works on copies of the peers and stores them only
// if the segment is valid.
func tcpUpdate(e *conn, dir Dir, m *Meta, liberal bool) result {
	flags := m.TCPFlags
	if tcpInvalidFlags(flags) {
		return result{verdict: verdictInvalid}
	}
	src, dst := e.tcp[dir], e.tcp[dir^1]

	if flags&(tcpSYN|tcpACK) == tcpSYN && dst.state >= TCPFinWait2 && src.state >= TCPFinWait2 {
		return result{verdict: verdictReopen}
	}

	var sws, dws uint8
	if src.wscale&wsFlag != 0 && dst.wscale&wsFlag != 0 && flags&tcpSYN == 0 {
		sws, dws = src.wscale&wsMask, dst.wscale&wsMask
	} else if src.wscale&wsUnknown != 0 && dst.wscale&wsUnknown != 0 && flags&tcpSYN == 0 {
		sws, dws = maxWScale, maxWScale
	}

	win := uint32(m.Win)
	seq, origSeq, ack := m.Seq, m.Seq, m.Ack
	end := seq + uint32(m.PayloadLen)
	checkAckskew := true
	if src.state < TCPSynSent {
		// First segment from this end.
		if flags&tcpSYN != 0 {
			end++
			if dst.wscale&wsFlag != 0 {
				src.wscale = metaWScale(m)
				if src.wscale&wsFlag != 0 {
					// Remove the scale factor from the initial window.
					sws = src.wscale & wsMask
					win = divRoundUp(win, 1<<sws)
					dws = dst.wscale & wsMask
				} else {
					// Fix up the other window; in case of a retransmitted SYN+ACK.
					dst.maxWin <<= dst.wscale & wsMask
					dst.wscale = 0
				}
			}
		}
		if flags&tcpFIN != 0 {
			end++
		}
		src.seqlo = seq
		src.state = TCPSynSent
		// Slide the window: seqhi may be stale after a pickup.
		if hi := end + max(1, uint32(dst.maxWin)<<dws); src.seqhi == 1 || seqGEQ(hi, src.seqhi) {
			src.seqhi = hi
			checkAckskew = false // new or picked-up connection: be permissive
		}
		if win > uint32(src.maxWin) {
			src.maxWin = uint16(win)
		}
	} else {
		if flags&tcpSYN != 0 {
			end++
		}
		if flags&tcpFIN != 0 {
			end++
		}
	}

	if flags&tcpACK == 0 {
		ack = dst.seqlo // let it pass the ack skew check
	} else if ack == 0 && flags&(tcpACK|tcpRST) == tcpACK|tcpRST {
		ack = dst.seqlo // broken stacks send RST|ACK with ack 0
	}
	if seq == end {
		// Ease sequencing restrictions on segments without data.
		seq = src.seqlo
		end = seq
	}
	var ackskew int64
	if checkAckskew {
		ackskew = int64(int32(dst.seqlo - ack))
	}

	inWindow := seqGEQ(src.seqhi, end) && // last octet inside the other's window
		seqGEQ(seq, src.seqlo-uint32(dst.maxWin)<<dws) && // retransmit at most one window back
		ackskew >= -maxAckWindow && // ack at most one fragment backwards
		ackskew <= maxAckWindow<<sws && // ack at most one window forward
		(flags&tcpRST == 0 || origSeq == src.seqlo || origSeq == src.seqlo+1 || origSeq+1 == src.seqlo)

	r := result{class: e.class}
	switch {
	case inWindow || liberal || e.flags&flagLiberal != 0:
		tcpSync(&src, &dst, win, sws, ack, end)
		if flags&tcpSYN != 0 && src.state < TCPSynSent {
			src.state = TCPSynSent
		}
		if flags&tcpFIN != 0 && src.state < TCPClosing {
			src.state = TCPClosing
		}
		if flags&tcpACK != 0 {
			switch dst.state {
			case TCPSynSent:
				dst.state = TCPEstablished
			case TCPClosing:
				dst.state = TCPFinWait2
			}
		}
		if flags&tcpRST != 0 {
			src.state, dst.state = TCPTimeWait, TCPTimeWait
		}
		r.class, r.refresh = tcpClass(&src, &dst), true
	case (dst.state < TCPSynSent || dst.state >= TCPFinWait2 || src.state >= TCPFinWait2) &&
		seqGEQ(src.seqhi+maxAckWindow, end) && seqGEQ(seq, src.seqlo-maxAckWindow):
		// pf's loose case: shotgunned SYNs before the peer answers, a
		// pickup of an established stream, stray segments after close. The
		// timeout is not refreshed, so that floods cannot keep it alive.
		tcpSync(&src, &dst, win, sws, ack, end)
		if flags&tcpFIN != 0 && src.state < TCPClosing {
			src.state = TCPClosing
		}
		if flags&tcpRST != 0 {
			src.state, dst.state = TCPTimeWait, TCPTimeWait
		}
	default:
		return result{verdict: verdictInvalid}
	}
	e.tcp[dir], e.tcp[dir^1] = src, dst
	return r
}

// tcpSync records an accepted segment: window, highest sequence sent, and
// how far the other end may now send.
func tcpSync(src, dst *tcpPeer, win uint32, sws uint8, ack, end uint32) {
	if uint32(src.maxWin) < win {
		src.maxWin = uint16(win)
	}
	if seqGT(end, src.seqlo) {
		src.seqlo = end
	}
	if seqGEQ(ack+win<<sws, dst.seqhi) {
		dst.seqhi = ack + max(win<<sws, 1)
	}
}

// tcpClass maps the peers' states to a timeout class as conntrack-tcp.c
// picks CT_TM_TCP_* (names per conntrack-tp.c's policy attributes).
func tcpClass(src, dst *tcpPeer) class {
	switch {
	case src.state >= TCPFinWait2 && dst.state >= TCPFinWait2:
		return clsTCPClose
	case src.state >= TCPClosing && dst.state >= TCPClosing:
		return clsTCPTimeWait
	case src.state < TCPEstablished || dst.state < TCPEstablished:
		return clsTCPSynRecv
	case src.state >= TCPClosing || dst.state >= TCPClosing:
		return clsTCPFinWait
	}
	return clsTCPEstablished
}
