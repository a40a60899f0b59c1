package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server is a process the lab started inside one of its namespaces.
type Server struct {
	Kind  string         // "iperf3", "udp-sink", "udp-echo"
	Addr  netip.AddrPort // where it listens
	Cmd   *exec.Cmd
	Log   string // its stdout+stderr
	stats string // udp-sink: stats file
	done  chan struct{}
	mu    sync.Mutex
}

// Stop kills the server and waits for it. Idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		s.Cmd.Process.Kill()
		<-s.done
	}
}

// StartIperfServer starts `iperf3 -s` bound to the ext address inside ns ext.
func (l *Lab) StartIperfServer() (*Server, error) { return l.StartIperfServerAt(l.addrs.ExtIP) }

// StartIperfServerAt starts `iperf3 -s` bound to addr (one of ext's: the
// IPv6 one in a dual-stack lab) inside ns ext.
func (l *Lab) StartIperfServerAt(addr netip.Addr) (*Server, error) {
	ap := netip.AddrPortFrom(addr, uint16(l.addrs.IperfPort))
	return l.startServer("ext", "iperf3", ap, "", "iperf3", "-s", "-B", ap.Addr().String(), "-p", strconv.Itoa(int(ap.Port())))
}

// StartUDPSink starts a UDP sink on ext:port inside ns ext. It counts
// datagrams and bytes; read them with UDPSinkStats.
func (l *Lab) StartUDPSink(port int) (*Server, error) {
	return l.startGoServer("udp-sink", netip.AddrPortFrom(l.addrs.ExtIP, uint16(port)))
}

// StartUDPSinkAt is StartUDPSink on one of ext's addresses (IPv4 or IPv6).
func (l *Lab) StartUDPSinkAt(ap netip.AddrPort) (*Server, error) {
	return l.startGoServer("udp-sink", ap)
}

// StartUDPEcho starts a UDP reflector on ext:port inside ns ext: every
// datagram goes back to its sender.
func (l *Lab) StartUDPEcho(port int) (*Server, error) {
	return l.startGoServer("udp-echo", netip.AddrPortFrom(l.addrs.ExtIP, uint16(port)))
}

// StartUDPEchoAt is StartUDPEcho on one of ext's addresses (IPv4 or IPv6).
func (l *Lab) StartUDPEchoAt(ap netip.AddrPort) (*Server, error) {
	return l.startGoServer("udp-echo", ap)
}

func (l *Lab) startGoServer(kind string, ap netip.AddrPort) (*Server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	stats := ""
	if kind == "udp-sink" {
		stats = filepath.Join(l.addrs.WorkDir, fmt.Sprintf("udp-sink-%d.stats", ap.Port()))
	}
	return l.startServer("ext", kind, ap, stats, exe)
}

// startServer runs args in role's namespace, in its own session (so that
// `xgw-lab up` can exit and leave it running), and waits until it listens.
func (l *Lab) startServer(role, kind string, ap netip.AddrPort, stats string, args ...string) (*Server, error) {
	l.mu.Lock()
	down := l.down
	l.mu.Unlock()
	if down {
		return nil, errors.New("lab: down")
	}
	logPath := filepath.Join(l.addrs.WorkDir, fmt.Sprintf("%s-%d.log", kind, ap.Port()))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := l.Exec(role, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if kind == "udp-sink" || kind == "udp-echo" {
		cmd.Env = append(cmd.Env, serveEnv+"="+kind, listenEnv+"="+ap.String(), statsEnv+"="+stats)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Kind: kind, Addr: ap, Cmd: cmd, Log: logPath, stats: stats, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	proto := "tcp"
	if kind != "iperf3" {
		proto = "udp"
	}
	deadline := time.Now().Add(5 * time.Second)
	for !listening(cmd.Process.Pid, proto, ap) {
		select {
		case <-s.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("lab: %s exited: %s", kind, strings.TrimSpace(string(b)))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("lab: %s not listening on %s after 5s", kind, ap)
		}
	}
	l.mu.Lock()
	l.servers = append(l.servers, s)
	l.mu.Unlock()
	return s, nil
}

// listening reports whether a socket listens on ap in pid's network
// namespace (read from /proc/<pid>/net, which is that namespace's view).
func listening(pid int, proto string, ap netip.AddrPort) bool {
	file := proto
	if ap.Addr().Is6() {
		file += "6"
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, file))
	if err != nil {
		return false
	}
	defer f.Close()
	want := procNetAddr(ap)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 || fs[1] != want {
			continue
		}
		if proto == "udp" || fs[3] == "0A" { // TCP_LISTEN
			return true
		}
	}
	return false
}

// procNetAddr formats ap as /proc/net/{tcp,udp}{,6} print it: the address
// as host-order (little endian here) 32-bit words, the port, in hex.
func procNetAddr(ap netip.AddrPort) string {
	var b strings.Builder
	raw := ap.Addr().AsSlice()
	for w := 0; w < len(raw); w += 4 {
		fmt.Fprintf(&b, "%02X%02X%02X%02X", raw[w+3], raw[w+2], raw[w+1], raw[w])
	}
	fmt.Fprintf(&b, ":%04X", ap.Port())
	return b.String()
}

// udpNet is "udp4" or "udp6", the network of a socket bound to a.
func udpNet(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return "udp4"
	}
	return "udp6"
}

// UDPSinkStats asks a sink for its counts (datagrams, bytes).
func (s *Server) UDPSinkStats() (packets, bytes uint64, err error) {
	if s.Kind != "udp-sink" {
		return 0, 0, errors.New("lab: not a udp-sink")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _, seq0, _ := readSinkStats(s.stats)
	if err := s.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return 0, 0, err
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		p, b, seq, err := readSinkStats(s.stats)
		if err == nil && seq > seq0 {
			return p, b, nil
		}
	}
	return 0, 0, errors.New("lab: udp-sink did not report")
}

func readSinkStats(path string) (packets, bytes, seq uint64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0, err
	}
	_, err = fmt.Sscanf(string(b), "packets %d bytes %d seq %d", &packets, &bytes, &seq)
	return
}

// The re-exec hook: StartUDPSink/StartUDPEcho run the current binary inside
// ns ext with these variables set, and init serves instead of running main.
const (
	serveEnv  = "XGWLAB_SERVE"
	listenEnv = "XGWLAB_LISTEN"
	statsEnv  = "XGWLAB_STATS"
)

func init() {
	kind := os.Getenv(serveEnv)
	if kind == "" {
		return
	}
	listen, stats := os.Getenv(listenEnv), os.Getenv(statsEnv)
	for _, k := range []string{serveEnv, listenEnv, statsEnv} {
		os.Unsetenv(k)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch kind {
	case "udp-sink":
		err = ServeUDPSink(ctx, listen, stats)
	case "udp-echo":
		err = ServeUDPEcho(ctx, listen)
	default:
		err = fmt.Errorf("unknown %s=%q", serveEnv, kind)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", kind+":", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// ServeUDPSink counts datagrams received on listen until ctx ends. On
// SIGUSR1 (and on exit) it writes "packets N bytes N seq N" to statsPath
// (atomically; "" to skip) and prints the final counts on stdout.
func ServeUDPSink(ctx context.Context, listen, statsPath string) error {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return err
	}
	c, err := net.ListenPacket(udpNet(ap.Addr()), listen)
	if err != nil {
		return err
	}
	uc := c.(*net.UDPConn)
	uc.SetReadBuffer(4 << 20)
	var packets, bytes, seq atomic.Uint64
	write := func() {
		if statsPath == "" {
			return
		}
		tmp := statsPath + ".tmp"
		s := fmt.Sprintf("packets %d bytes %d seq %d\n", packets.Load(), bytes.Load(), seq.Add(1))
		if os.WriteFile(tmp, []byte(s), 0o644) == nil {
			os.Rename(tmp, statsPath)
		}
	}
	write()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				uc.Close()
				return
			case <-usr1:
				write()
			}
		}
	}()
	buf := make([]byte, 65536)
	for {
		n, _, err := uc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				write()
				fmt.Printf("udp-sink %s: packets %d bytes %d\n", listen, packets.Load(), bytes.Load())
				return nil
			}
			return err
		}
		packets.Add(1)
		bytes.Add(uint64(n))
	}
}

// ServeUDPEcho sends every datagram received on listen back to its sender
// until ctx ends.
func ServeUDPEcho(ctx context.Context, listen string) error {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return err
	}
	c, err := net.ListenPacket(udpNet(ap.Addr()), listen)
	if err != nil {
		return err
	}
	uc := c.(*net.UDPConn)
	uc.SetReadBuffer(4 << 20)
	go func() { <-ctx.Done(); uc.Close() }()
	buf := make([]byte, 65536)
	var n uint64
	for {
		m, from, err := uc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Printf("udp-echo %s: echoed %d\n", listen, n)
				return nil
			}
			return err
		}
		if _, err := uc.WriteToUDPAddrPort(buf[:m], from); err == nil {
			n++
		}
	}
}
