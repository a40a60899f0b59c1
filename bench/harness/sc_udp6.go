package harness

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xgw-dev/xgw/bench/lab"
	"github.com/xgw-dev/xgw/bench/report"
	"golang.org/x/sys/unix"
)

// ScenarioOneway6 is the seed's one-way UDP scenario with an IPv6 overlay:
// Flows one-way flows from the VM's unique-local address to the external
// host, SNATed by NAT66, over the IPv4 underlay. Opt-in (not in
// ScenarioNames) until the pipeline speaks IPv6: name it in Scenarios; the
// lab then comes up dual stack (lab.Options.DualStack).
const ScenarioOneway6 = "udp-oneway6"

// oneway6Systems are the systems the scenario compares (issue 13: xgw
// software, xgw offload, OVS); the Linux peer cannot decapsulate Geneve
// and the XDP ceiling does not NAT.
var oneway6Systems = map[string]bool{"xgw-sw": true, "xgw-offload": true, "xgw-offload-oneway-off": true, "ovs-afxdp": true}

// wantsDualStack says whether a run needs the dual-stack lab.
func wantsDualStack(o *Options) bool {
	for _, sc := range o.Scenarios {
		if sc == ScenarioOneway6 {
			return true
		}
	}
	return false
}

// oneway6Frames builds one Geneve frame per flow, as the hypervisor would
// send them to the gateway: outer IPv4/UDP (no outer checksum, as the
// IPv4 generator's frames; source port per flow), Geneve VNI 1 with OVN's
// option 0x10002, inner eth DR join -> GR join, IPv6 hop limit 63, UDP
// with its (mandatory in IPv6) checksum, an 18-byte payload as the seed's.
func oneway6Frames(e *Env, flows int) ([][]byte, error) {
	c := e.Lab.Config()
	v6 := c.V6
	out := make([][]byte, flows)
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for f := range flows {
		iip := &layers.IPv6{Version: 6, HopLimit: 63, NextHeader: layers.IPProtocolUDP,
			SrcIP: v6.VMIPs[0].AsSlice(), DstIP: v6.ExtIP.AsSlice()}
		iudp := &layers.UDP{SrcPort: layers.UDPPort(genBasePort + f), DstPort: genDstPort}
		iudp.SetNetworkLayerForChecksum(iip)
		ib := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(ib, opts,
			&layers.Ethernet{SrcMAC: c.DRJoinMAC, DstMAC: c.GRJoinMAC, EthernetType: layers.EthernetTypeIPv6},
			iip, iudp, gopacket.Payload(make([]byte, 18))); err != nil {
			return nil, err
		}
		gnv := []byte{0x02, 0x40, 0x65, 0x58, 0, 0, lab.JoinVNI, 0,
			0x01, 0x02, 0x80, 0x01, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(gnv[12:], lab.JoinOption)
		oip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: c.HVUnderlayIP.AsSlice(), DstIP: c.VTEPIP.AsSlice()}
		ob := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(ob, gopacket.SerializeOptions{FixLengths: true},
			&layers.Ethernet{SrcMAC: c.HVUnderlayMAC, DstMAC: c.GWUnderlayMAC, EthernetType: layers.EthernetTypeIPv4},
			oip, &layers.UDP{SrcPort: layers.UDPPort(49152 + f%16384), DstPort: lab.GenevePort},
			gopacket.Payload(append(gnv, ib.Bytes()...))); err != nil {
			return nil, err
		}
		b := ob.Bytes()
		// gopacket leaves the IPv4 header checksum to ComputeChecksums,
		// which would also fill the outer UDP one: do the header alone.
		ip := b[14:34]
		binary.BigEndian.PutUint16(ip[10:], 0)
		binary.BigEndian.PutUint16(ip[10:], ^foldSum(ip))
		out[f] = b
	}
	return out, nil
}

func foldSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// runOneway6 is the scenario: the generator writes the frames round robin
// out of the hypervisor's underlay veth with an AF_PACKET socket (the XDP
// generator's templates are IPv4 only), paced at the run's rate (default
// 200 kpps: a userspace sender's reach on these machines), for the run's
// duration; a UDP socket in ns ext counts what arrives and from where.
func (c *runCtx) runOneway6(res *report.Result) error {
	e := c.e
	if e.Lab == nil || e.Lab.Config().V6 == nil {
		return errSkip("needs the dual-stack lab")
	}
	if !oneway6Systems[c.sys.Name()] {
		return errSkip("IPv6 one-way UDP compares xgw (software, offload) and OVS")
	}
	m := res.Metrics
	v6 := e.Lab.Config().V6
	// The gateway's IPv6 next hop, pinned as prepareLab pins IPv4's.
	if _, err := e.Run(RoleGW, "ip", "-6", "neigh", "replace", v6.ExtIP.String(), "lladdr", e.A.ExtMAC.String(),
		"dev", e.A.External, "nud", "permanent"); err != nil {
		return err
	}
	frames, err := oneway6Frames(e, max(c.o.Flows, 1))
	if err != nil {
		return err
	}
	var rx *net.UDPConn
	if err := e.Do(RoleExt, func() (err error) {
		rx, err = net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(v6.ExtIP, genDstPort)))
		return
	}); err != nil {
		return err
	}
	defer rx.Close()
	rx.SetReadBuffer(16 << 20)
	var got, fromSNAT, bytes atomic.Uint64
	rxDone := make(chan struct{})
	go func() {
		defer close(rxDone)
		buf := make([]byte, 2048)
		for {
			n, from, err := rx.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			got.Add(1)
			bytes.Add(uint64(n))
			if from.Addr().Unmap() == v6.SNATIP {
				fromSNAT.Add(1)
			}
		}
	}()
	ifindex, err := e.Ifindex(RoleGen, e.A.GenIface)
	if err != nil {
		return err
	}
	var fd int
	if err := e.Do(RoleGen, func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return
	}); err != nil {
		return err
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 8<<20)
	to := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}

	rate := c.o.Rate
	if rate <= 0 {
		rate = 200_000
	}
	var sentNow atomic.Uint64
	start := time.Now()
	w, err := c.startWindow(func() string {
		secs := time.Since(start).Seconds()
		return fmt.Sprintf("sent %s pps, delivered %s pps", mpps(float64(sentNow.Load())/secs), mpps(float64(got.Load())/secs))
	})
	if err != nil {
		return err
	}
	var sent uint64
	for time.Since(start) < c.o.Duration {
		for range 64 {
			if err := unix.Sendto(fd, frames[sent%uint64(len(frames))], 0, to); err != nil {
				if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
					continue
				}
				w.end(m)
				return fmt.Errorf("send: %w", err)
			}
			sent++
		}
		sentNow.Store(sent)
		if ahead := time.Duration(float64(sent)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	secs := time.Since(start).Seconds()
	s0, s1, werr := w.end(m)
	if werr != nil {
		return werr
	}
	// What is still in rings and queues lands; then the counter stops.
	for last, t := got.Load(), time.Now(); time.Since(t) < 2*time.Second; {
		time.Sleep(100 * time.Millisecond)
		if n := got.Load(); n == last {
			break
		} else {
			last = n
		}
	}
	rx.Close()
	<-rxDone
	delivered := got.Load()
	m[report.Sent] = float64(sent)
	m[report.Delivered] = float64(delivered)
	m[report.PPS] = float64(delivered) / secs
	m[report.Gbps] = float64(bytes.Load()) * 8 / secs / 1e9
	m[report.Loss] = lossOf(sent, delivered)
	perPacket(m, m[report.PPS])
	fastShare(m, s0, s1, float64(delivered))
	res.Raw = map[string]any{"seconds": secs, "from_snat": fromSNAT.Load(), "flows": len(frames),
		"gateway_before": s0.Raw, "gateway_after": s1.Raw}
	res.Notes = append(res.Notes, w.napi.notes...)
	res.Notes = append(res.Notes, fmt.Sprintf("IPv6 overlay (NAT66 %s -> %s) over the IPv4 underlay; generator: AF_PACKET from userspace, %d pre-built frames with valid inner UDP checksums", v6.VMPrefix, v6.SNATIP, len(frames)))
	if delivered > 0 && fromSNAT.Load() != delivered {
		res.Notes = append(res.Notes, fmt.Sprintf("%d of %d delivered datagrams did not come from the NAT66 address", delivered-fromSNAT.Load(), delivered))
	}
	return nil
}
