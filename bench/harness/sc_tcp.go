package harness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xgw-dev/xgw/bench/report"
)

const tcpPort = 7100

// tcpServer listens in ns ext and counts accepted connections. In echo
// mode it echoes bytes until the client closes (for CC); otherwise it
// closes each accepted connection at once (for CPS).
type tcpServer struct {
	ln       net.Listener
	accepted atomic.Uint64
	echo     bool
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

func (c *runCtx) startTCPServer(echo bool) (*tcpServer, error) {
	s := &tcpServer{echo: echo}
	addr := netip.AddrPortFrom(c.e.A.ExtIP.Addr(), tcpPort).String()
	err := c.e.Do(RoleExt, func() (err error) {
		s.ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *tcpServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		if !s.echo {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
			continue
		}
		s.mu.Lock()
		s.conns = append(s.conns, conn)
		s.mu.Unlock()
		go echo(conn)
	}
}

// echo sends back what conn receives until it closes. Not io.Copy: TCP to
// TCP, that splices through a pipe per connection, two more files each,
// and tcp-cc ran out of files at half its connections.
func echo(conn net.Conn) {
	buf := make([]byte, 512)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		if _, err := conn.Write(buf[:n]); err != nil {
			return
		}
	}
}

// close stops the server and resets every connection it holds. Reset,
// not FIN: a FIN_WAIT socket left in ns ext (its FIN unanswered because
// the client reset first, or the gateway stopped) holds its 4-tuple for
// minutes, and the next scenario's SYNs that reuse one get a challenge
// ACK instead of a SYN-ACK: tcp-cps after tcp-cc collapsed to a few
// hundred connections/s on every system.
func (s *tcpServer) close() {
	s.ln.Close()
	s.wg.Wait()
	s.mu.Lock()
	for _, c := range s.conns {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	s.mu.Unlock()
}

// dialer returns a dial function for the client side; it must be called on
// a thread in the client's namespace (inside Env.Do).
func (c *runCtx) dialer() func() (net.Conn, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	if !c.sys.Geneve() {
		d.LocalAddr = &net.TCPAddr{IP: c.e.A.VMIP.Addr().AsSlice()}
	}
	addr := netip.AddrPortFrom(c.e.A.ExtIP.Addr(), tcpPort).String()
	return func() (net.Conn, error) { return d.Dial("tcp4", addr) }
}

// runCPS opens and resets connections from Workers threads in the client's
// namespace for the duration. A connection counts when the client saw the
// SYN/ACK (connect returned) and the server accepted it (its ACK arrived):
// RFC 9693's rule that a connection is only established when validated at
// both ends. CPS = min(client, server) / seconds.
func (c *runCtx) runCPS(res *report.Result) error {
	if c.e.Lab == nil {
		return errSkip("needs the lab's VM and hypervisor")
	}
	m := res.Metrics
	undo, err := c.passBothEnds()
	if err != nil {
		return err
	}
	defer undo()
	srv, err := c.startTCPServer(false)
	if err != nil {
		return err
	}
	defer srv.close()
	var established, failed atomic.Uint64
	start := time.Now()
	w, err := c.startWindow(func() string {
		return fmt.Sprintf("established %d, accepted %d, failed %d", established.Load(), srv.accepted.Load(), failed.Load())
	})
	if err != nil {
		return err
	}
	deadline := start.Add(c.o.Duration)
	var wg sync.WaitGroup
	for i := 0; i < c.o.CPSWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.e.Do(c.clientRole(), func() error {
				dial := c.dialer()
				for time.Now().Before(deadline) {
					conn, err := dial()
					if err != nil {
						failed.Add(1)
						continue
					}
					established.Add(1)
					// RST, not FIN: no TIME_WAIT, so ports recycle and the
					// rate measured is setup, not teardown.
					conn.(*net.TCPConn).SetLinger(0)
					conn.Close()
				}
				return nil
			})
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	time.Sleep(200 * time.Millisecond) // last ACKs reach the server
	_, _, werr := w.end(m)
	est, acc := established.Load(), srv.accepted.Load()
	m[report.CPSClient] = float64(est)
	m[report.CPSServer] = float64(acc)
	m[report.CPS] = float64(min(est, acc)) / secs
	res.Raw = map[string]any{"seconds": secs, "failed_dials": failed.Load(), "workers": c.o.CPSWorkers}
	if f := failed.Load(); f > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d connects failed or timed out", f))
	}
	return werr
}

// runCC opens CCConns connections and holds them, then sends one byte on
// each and waits for its echo: a connection counts as concurrent only if
// it passed data both ways while all the others were open.
func (c *runCtx) runCC(res *report.Result) error {
	if c.e.Lab == nil {
		return errSkip("needs the lab's VM and hypervisor")
	}
	m := res.Metrics
	undo, err := c.passBothEnds()
	if err != nil {
		return err
	}
	defer undo()
	srv, err := c.startTCPServer(true)
	if err != nil {
		return err
	}
	defer srv.close()
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.(*net.TCPConn).SetLinger(0)
			cn.Close()
		}
	}()
	// Both ends of every connection are sockets of this process: a target
	// beyond the open-file limit would measure the limit (EMFILE), not the
	// gateway. Raising the hard limit needs CAP_SYS_RESOURCE.
	target := c.o.CCConns
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil {
		if fit := int(rl.Cur/2) - 256; fit < target {
			res.Notes = append(res.Notes, fmt.Sprintf("target capped at %d connections from %d: this process holds both ends of each and may open %d files (RLIMIT_NOFILE)", fit, target, rl.Cur))
			target = fit
		}
	}
	var failed atomic.Uint64
	var firstErr atomic.Value
	var opened atomic.Int64
	start := time.Now()
	w, err := c.startWindow(func() string {
		return fmt.Sprintf("open %d/%d, accepted %d", opened.Load(), target, srv.accepted.Load())
	})
	if err != nil {
		return err
	}
	// Opening is capped in time too: a gateway that drops SYNs must not
	// stall the run.
	openDeadline := start.Add(max(c.o.Duration*4, 20*time.Second))
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < c.o.CPSWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.e.Do(c.clientRole(), func() error {
				dial := c.dialer()
				for next.Add(1) <= int64(target) && time.Now().Before(openDeadline) {
					conn, err := dial()
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					opened.Add(1)
					mu.Lock()
					conns = append(conns, conn)
					mu.Unlock()
				}
				return nil
			})
		}()
	}
	wg.Wait()
	openSecs := time.Since(start).Seconds()
	time.Sleep(c.o.Duration / 2) // hold them all
	verified := verifyEcho(conns)
	_, _, werr := w.end(m)
	m[report.CCHeld] = float64(min(uint64(len(conns)), srv.accepted.Load()))
	m[report.CCVerified] = float64(verified)
	res.Raw = map[string]any{"open_seconds": openSecs, "failed_dials": failed.Load(), "target": target}
	if f := failed.Load(); f > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d connects failed or timed out (the first: %v)", f, firstErr.Load()))
	}
	return werr
}

// verifyEcho writes one byte on every connection and counts the echoes,
// in parallel batches so that a slow gateway does not serialize timeouts.
func verifyEcho(conns []net.Conn) int {
	var ok atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, cn := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cn.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := cn.Write([]byte{'x'}); err != nil {
				return
			}
			var b [1]byte
			if _, err := io.ReadFull(cn, b[:]); err == nil && b[0] == 'x' {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load())
}

// errSkip marks a scenario that does not apply.
type errSkip string

func (e errSkip) Error() string { return string(e) }

func isSkip(err error) (string, bool) {
	var s errSkip
	if errors.As(err, &s) {
		return string(s), true
	}
	return "", false
}
