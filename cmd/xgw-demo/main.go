// Command xgw-demo is `make demo`: it brings up the namespace lab (a VM
// behind a real Open vSwitch acting as an OVN chassis, the gateway, an
// "internet" host), runs xgw in it, pushes real traffic through, prints
// what happened and tears everything down, also on Ctrl-C. With -ovn
// (`make demo-ovn`) the lab is a real OVN deployment and xgw runs in OVN
// mode as its gateway chassis (ovn.go).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xgw-dev/xgw/bench/lab"
)

func main() {
	xgw := flag.String("xgw", "bin/xgw", "the xgw binary to run")
	seconds := flag.Int("t", 3, "seconds of iperf3 traffic per direction")
	ovn := flag.Bool("ovn", false, "the OVN lab: real northd, NB/SB and two ovn-controller hypervisors, xgw in OVN mode as gateway chassis gateway01")
	baseline := flag.Bool("ovn-baseline", false, "with -ovn: a real ovn-controller as gateway01 instead of xgw (the baseline)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "xgw-demo: must run as root (network namespaces, XDP, AF_XDP)")
		os.Exit(2)
	}
	bin, err := filepath.Abs(*xgw)
	if err != nil {
		fatal(err)
	}
	if *ovn || *baseline {
		err = runOVN(bin, *seconds, *baseline)
	} else {
		err = run(bin, *seconds)
	}
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "xgw-demo:", err)
	os.Exit(1)
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(bin string, seconds int) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	step("bringing up the lab (vm -> OVS hypervisor -> xgw gateway -> ext)")
	l, err := lab.Up(ctx, lab.Options{})
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer func() {
		step("tearing down lab %s", l.Name())
		if derr := l.Down(); derr != nil && err == nil {
			err = derr
		}
	}()
	a := l.Config()
	fmt.Printf("lab %s: VM %s behind OVS in %s, xgw in %s (VTEP %s, SNAT %s), server %s in %s\n",
		a.Name, a.VMs[0].IP, l.NS("hv"), l.NS("gw"), a.VTEPIP, a.SNATIP, a.ExtIP, l.NS("ext"))

	cfg := filepath.Join(a.WorkDir, "xgw.yaml")
	sock := filepath.Join(a.WorkDir, "xgw.sock")
	if err := l.WriteXGWConfig(cfg); err != nil {
		return err
	}
	step("starting xgw run --config %s", cfg)
	logPath := filepath.Join(a.WorkDir, "xgw.log")
	exited, stop, err := startXGW(l.Exec("gw", bin, "run", "--config", cfg), logPath)
	if err != nil {
		return err
	}
	defer stop()
	cli := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"--control-socket", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	for i := 0; ; i++ {
		if _, err := cli("stats", "--json"); err == nil {
			break
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("xgw exited: %v\n%s", err, log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if i > 200 {
			return fmt.Errorf("xgw did not come up within 20s (log: %s)", logPath)
		}
	}

	step("ping from the VM to %s", a.ExtIP)
	l.Exec("vm", "ping", "-c", "1", "-W", "1", a.ExtIP.String()).Run() // resolves next hops
	out, _ := l.Exec("vm", "ping", "-c", "3", "-i", "0.2", a.ExtIP.String()).CombinedOutput()
	fmt.Print(lastLines(string(out), 2))

	srv, err := l.StartIperfServer()
	if err != nil {
		return err
	}
	defer srv.Stop()
	var summary []string
	for _, reverse := range []bool{false, true} {
		dir := "VM -> ext"
		args := []string{"iperf3", "-c", a.ExtIP.String(), "-t", fmt.Sprint(seconds), "-J", "--get-server-output"}
		if reverse {
			dir, args = "ext -> VM (-R)", append(args, "-R")
		}
		step("iperf3 TCP %s for %ds", dir, seconds)
		out, err := l.ExecContext(ctx, "vm", args...).Output()
		if err != nil {
			return fmt.Errorf("iperf3: %v", err)
		}
		mbps, peer := parseIperf(out)
		line := fmt.Sprintf("iperf3 TCP %-15s %8.1f Mbit/s   the server saw the client as %s", dir, mbps, peer)
		fmt.Println(line)
		summary = append(summary, line)
	}

	step("UDP request/response and a one-way UDP flow")
	echo, err := l.StartUDPEcho(7007)
	if err != nil {
		return err
	}
	defer echo.Stop()
	sink, err := l.StartUDPSink(9009)
	if err != nil {
		return err
	}
	defer sink.Stop()
	answered, err := udpRequests(l, a, 100)
	if err != nil {
		return err
	}
	sent, err := udpOneWay(l, a, 1000)
	if err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	got, _, _ := sink.UDPSinkStats()
	summary = append(summary,
		fmt.Sprintf("UDP request/response: %d of 100 answered", answered),
		fmt.Sprintf("UDP one-way: %d of %d datagrams reached the sink", got, sent))
	fmt.Println(strings.Join(summary[len(summary)-2:], "\n"))

	step("xgw dump-conntrack -s   (one entry per zone: dnat zone 6, snat zone 16)")
	ct, _ := cli("dump-conntrack", "-s")
	fmt.Print(ct)
	step("xgw stats")
	st, _ := cli("stats")
	fmt.Print(st)

	step("summary")
	for _, s := range summary {
		fmt.Println(s)
	}
	fmt.Printf("conntrack entries: %d (one-way flows show without SEEN_REPLY: +new, never established)\n", strings.Count(ct, "\n"))
	if js, err := cli("stats", "--json"); err == nil {
		hits, sw := fastPathShare([]byte(js))
		fmt.Printf("XDP fast path: %d packets, software pipeline: %d (%.1f%% offloaded; xgw dump-flows --type offloaded lists the flows)\n",
			hits, sw, 100*float64(hits)/float64(max(1, hits+sw)))
	}
	return nil
}

// fastPathShare reads the fast path's hits and the software pipeline's
// transmitted frames from xgw stats --json.
func fastPathShare(js []byte) (hits, sw uint64) {
	var s struct {
		Pipeline struct {
			TX map[string]uint64 `json:"tx"`
		} `json:"pipeline"`
		XDP []struct {
			Stats struct {
				FastPath struct {
					HitEgress, HitIngress struct{ Packets uint64 }
				}
			} `json:"stats"`
		} `json:"xdp"`
	}
	if json.Unmarshal(js, &s) != nil {
		return 0, 0
	}
	if len(s.XDP) > 0 { // one fast path shared by both interfaces
		hits = s.XDP[0].Stats.FastPath.HitEgress.Packets + s.XDP[0].Stats.FastPath.HitIngress.Packets
	}
	return hits, s.Pipeline.TX["underlay"] + s.Pipeline.TX["external"]
}

func parseIperf(out []byte) (mbps float64, peer string) {
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		ServerText string `json:"server_output_text"`
	}
	json.Unmarshal(out, &r)
	peer = "?"
	const p = "Accepted connection from "
	if i := strings.Index(r.ServerText, p); i >= 0 {
		peer = strings.SplitN(r.ServerText[i+len(p):], ",", 2)[0]
	}
	return r.End.SumReceived.BitsPerSecond / 1e6, peer
}

func udpRequests(l *lab.Lab, a lab.LabAddrs, n int) (int, error) {
	var c *net.UDPConn
	if err := l.Do("vm", func() (err error) {
		c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: 7007})
		return
	}); err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 1500)
	got := 0
	for i := 0; i < n; i++ {
		c.Write([]byte(fmt.Sprintf("request %d", i)))
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.Read(buf); err == nil {
			got++
		}
	}
	return got, nil
}

func udpOneWay(l *lab.Lab, a lab.LabAddrs, n int) (int, error) {
	var c *net.UDPConn
	if err := l.Do("vm", func() (err error) {
		c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: a.ExtIP.AsSlice(), Port: 9009})
		return
	}); err != nil {
		return 0, err
	}
	defer c.Close()
	sent := 0
	for i := 0; i < n; i++ {
		if _, err := c.Write([]byte("one-way datagram")); err == nil {
			sent++
		}
		if i%100 == 99 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return sent, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// startXGW starts cmd (xgw run) with its output in logPath. exited gets
// Wait's result once; stop sends SIGTERM and waits for the process (killing
// it after 10 s), also when the caller already took its result.
func startXGW(cmd *exec.Cmd, logPath string) (exited <-chan error, stop func(), err error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, err
	}
	res := make(chan error, 1)
	dead := make(chan struct{})
	go func() { res <- cmd.Wait(); close(dead) }()
	stop = func() {
		defer logf.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-dead:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-dead
		}
	}
	return res, stop, nil
}
