package gateway

// The host's own ports, for config.CheckHostPorts: a SNAT rule that
// translates to its router's external port address shares that address
// with the host, and xdp_gw hands xgw every TCP/UDP packet to the rule's
// port range. A range that holds the host's ephemeral ports or its
// listening services would take their traffic from the host, so xgw
// refuses such a configuration at start and on reload, naming the ports.
// What the kernel of xgw's network namespace says is what counts: the
// files below are per namespace.

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/packet"
)

const (
	ipLocalPortRange = "/proc/sys/net/ipv4/ip_local_port_range"
	tcpListen        = "0A" // TCP_LISTEN in /proc/net/tcp's st column
	udpBound         = "07" // TCP_CLOSE: how an unconnected UDP socket shows
)

// readHostPorts reads the host's ephemeral range and its listening TCP
// and bound UDP sockets (IPv4 and IPv6, whose wildcard takes IPv4 too).
func readHostPorts() (config.HostPorts, error) {
	var h config.HostPorts
	b, err := os.ReadFile(ipLocalPortRange)
	if err != nil {
		return h, fmt.Errorf("read the host's ephemeral ports: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return h, fmt.Errorf("%s: %q is not two ports", ipLocalPortRange, b)
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 16)
	hi, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil {
		return h, fmt.Errorf("%s: %q is not two ports", ipLocalPortRange, b)
	}
	h.EphemeralMin, h.EphemeralMax = uint16(lo), uint16(hi)
	for _, s := range []struct {
		file  string
		proto uint8
		state string
	}{
		{"/proc/net/tcp", packet.ProtoTCP, tcpListen},
		{"/proc/net/tcp6", packet.ProtoTCP, tcpListen},
		{"/proc/net/udp", packet.ProtoUDP, udpBound},
		{"/proc/net/udp6", packet.ProtoUDP, udpBound},
	} {
		ls, err := readSockets(s.file, s.proto, s.state)
		if err != nil {
			if os.IsNotExist(err) {
				continue // no IPv6
			}
			return h, err
		}
		h.Listeners = append(h.Listeners, ls...)
	}
	return h, nil
}

// readSockets lists the sockets of a /proc/net/{tcp,udp}[6] file in state.
func readSockets(file string, proto uint8, state string) ([]config.Listener, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []config.Listener
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 || fs[3] != state {
			continue
		}
		l, ok := parseProcAddr(fs[1])
		if !ok {
			continue
		}
		l.Proto = proto
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return out, nil
}

// parseProcAddr parses "0100007F:0016": the address as 32-bit words in
// host (little-endian) order, the port in hex.
func parseProcAddr(s string) (config.Listener, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return config.Listener{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	raw, err2 := hex.DecodeString(a)
	if err != nil || err2 != nil || (len(raw) != 4 && len(raw) != 16) {
		return config.Listener{}, false
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return config.Listener{Addr: addr, Port: uint16(port)}, true
}

// checkHostPorts refuses cfg when a rule SNATs to a host address with a
// range that holds the host's ports. It reads the host's ports only when
// some rule shares an address with it.
func checkHostPorts(cfg *config.Config, read func() (config.HostPorts, error)) error {
	shared := false
	for i := range cfg.Routers {
		for _, n := range cfg.Routers[i].NAT {
			shared = shared || cfg.Routers[i].HostShared(n)
		}
	}
	if !shared {
		return nil
	}
	h, err := read()
	if err != nil {
		return err
	}
	return cfg.CheckHostPorts(h)
}
