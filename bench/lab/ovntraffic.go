package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Exchange is the outcome of a UDP request/response run between a client
// and a server in two lab namespaces.
type Exchange struct {
	Sent, Answered int
	// SeenFrom is the source address(es) the server saw (after NAT).
	SeenFrom []netip.Addr
}

func (e Exchange) String() string {
	return fmt.Sprintf("%d/%d answered, server saw %v", e.Answered, e.Sent, e.SeenFrom)
}

// UDPRequestResponse opens a server socket in serverRole on serverAddr and a
// client socket in clientRole on clientIP, sends n numbered requests one at
// a time (each waits up to perReply for its answer, which the server sends
// back to whoever it saw) and reports what came back and who the server saw.
// Sockets live in their namespaces (Do); the traffic crosses the lab.
func (l *Lab) UDPRequestResponse(clientRole string, clientIP netip.Addr, serverRole string, server netip.AddrPort, n int, perReply time.Duration) (Exchange, error) {
	return l.UDPRequestResponseVia(clientRole, netip.AddrPortFrom(clientIP, 0), serverRole, server, server, n, perReply)
}

// UDPRequestResponseVia is UDPRequestResponse with the client bound to
// client (port 0: any; a fixed port keeps one connection across calls)
// and sending to dial (a NAT address, e.g. a floating IP) while the server
// listens on server (the address behind it).
func (l *Lab) UDPRequestResponseVia(clientRole string, client netip.AddrPort, serverRole string, server, dial netip.AddrPort, n int, perReply time.Duration) (Exchange, error) {
	var srv, cli *net.UDPConn
	if err := l.Do(serverRole, func() (err error) {
		srv, err = net.ListenUDP(udpNet(server.Addr()), net.UDPAddrFromAddrPort(server))
		return
	}); err != nil {
		return Exchange{}, fmt.Errorf("lab: server socket in %s: %w", serverRole, err)
	}
	defer srv.Close()
	if err := l.Do(clientRole, func() (err error) {
		cli, err = net.DialUDP(udpNet(dial.Addr()), net.UDPAddrFromAddrPort(client), net.UDPAddrFromAddrPort(dial))
		return
	}); err != nil {
		return Exchange{}, fmt.Errorf("lab: client socket in %s: %w", clientRole, err)
	}
	defer cli.Close()
	seen := map[netip.Addr]bool{}
	done := make(chan struct{})
	seenCh := make(chan netip.Addr, n)
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			m, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			seenCh <- from.Addr().Unmap()
			srv.WriteToUDPAddrPort(buf[:m], from)
		}
	}()
	ex := Exchange{Sent: n}
	buf := make([]byte, 2048)
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("xgwlab request %d", i)
		if _, err := cli.Write([]byte(msg)); err != nil {
			continue
		}
		deadline := time.Now().Add(perReply)
		for {
			cli.SetReadDeadline(deadline)
			m, err := cli.Read(buf)
			if err != nil {
				break
			}
			if string(buf[:m]) == msg {
				ex.Answered++
				break
			}
		}
	}
	srv.Close()
	<-done
	close(seenCh)
	for a := range seenCh {
		seen[a] = true
	}
	for a := range seen {
		ex.SeenFrom = append(ex.SeenFrom, a)
	}
	sort.Slice(ex.SeenFrom, func(i, j int) bool { return ex.SeenFrom[i].Less(ex.SeenFrom[j]) })
	return ex, nil
}

// UDPOneWay sends n datagrams from clientRole (clientIP:sport) to a socket
// in serverRole on server and returns how many arrived within wait, and
// the sources seen. The seed's one-way flows: nothing ever answers.
func (l *Lab) UDPOneWay(clientRole string, clientIP netip.Addr, sport int, serverRole string, server netip.AddrPort, n int, wait time.Duration) (Exchange, error) {
	var srv, cli *net.UDPConn
	if err := l.Do(serverRole, func() (err error) {
		srv, err = net.ListenUDP(udpNet(server.Addr()), net.UDPAddrFromAddrPort(server))
		return
	}); err != nil {
		return Exchange{}, err
	}
	defer srv.Close()
	srv.SetReadBuffer(4 << 20)
	if err := l.Do(clientRole, func() (err error) {
		cli, err = net.DialUDP(udpNet(server.Addr()), &net.UDPAddr{IP: clientIP.AsSlice(), Port: sport}, net.UDPAddrFromAddrPort(server))
		return
	}); err != nil {
		return Exchange{}, err
	}
	defer cli.Close()
	ex := Exchange{Sent: n}
	payload := make([]byte, 64)
	for i := 0; i < n; i++ {
		cli.Write(payload)
		if i%50 == 49 {
			// Paced (the seed's flows are steady, not one burst): a
			// userspace OVS drops bursts of hundreds at once.
			time.Sleep(2 * time.Millisecond)
		}
	}
	seen := map[netip.Addr]bool{}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(wait)
	for ex.Answered < n {
		srv.SetReadDeadline(deadline)
		_, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		ex.Answered++
		seen[from.Addr().Unmap()] = true
	}
	for a := range seen {
		ex.SeenFrom = append(ex.SeenFrom, a)
	}
	return ex, nil
}

// Ping runs ping in role to dst and returns the number of replies.
func (l *Lab) Ping(ctx context.Context, role string, dst netip.Addr, count int) (int, string, error) {
	out, err := l.ExecContext(ctx, role, "ping", "-n", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "2", dst.String()).CombinedOutput()
	var sent, recv int
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "packets transmitted") {
			fmt.Sscanf(line, "%d packets transmitted, %d received", &sent, &recv)
		}
	}
	if recv == 0 && err == nil {
		err = errors.New("no reply")
	}
	return recv, string(out), err
}
