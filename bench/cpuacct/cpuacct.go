// Package cpuacct measures CPU use from /proc: per-CPU time by kind from
// /proc/stat and per-process user+system time from /proc/<pid>/stat, sampled
// before and after a run. Results are in cores (1.0 = one CPU busy for the
// whole interval), which is how a 2-core machine's budget reads best.
package cpuacct

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// UserHZ is the unit of /proc/stat and /proc/<pid>/stat times. It is 100 on
// every Linux ABI that Go supports (sysconf(_SC_CLK_TCK)); reading it would
// need cgo.
const UserHZ = 100

// CPUTimes are one /proc/stat "cpuN" line, in ticks.
type CPUTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// Busy is every non-idle tick.
func (c CPUTimes) Busy() uint64 {
	return c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
}

func (c CPUTimes) sub(o CPUTimes) CPUTimes {
	return CPUTimes{c.User - o.User, c.Nice - o.Nice, c.System - o.System, c.Idle - o.Idle,
		c.IOWait - o.IOWait, c.IRQ - o.IRQ, c.SoftIRQ - o.SoftIRQ, c.Steal - o.Steal}
}

// ParseStat reads the per-CPU lines of /proc/stat ("cpu0", "cpu1", ...; the
// "cpu" total line is skipped).
func ParseStat(r io.Reader) ([]CPUTimes, error) {
	var out []CPUTimes
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("cpuacct: %s: %w", f[0], err)
			}
			v[i] = n
		}
		out = append(out, CPUTimes{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cpuacct: no cpuN lines in /proc/stat")
	}
	return out, sc.Err()
}

// ParsePidStat returns utime+stime (ticks, all threads) from the content of
// /proc/<pid>/stat. The command name may hold spaces and parentheses, so
// fields are counted from the last ')'.
func ParsePidStat(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("cpuacct: bad pid stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state(3) ppid ... utime is field 14, stime 15 (1-based
	// over the whole line), i.e. index 11 and 12 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("cpuacct: short pid stat")
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cpuacct: bad utime/stime")
	}
	return u + s, nil
}

// Snapshot is one sample of the machine and of a set of process groups.
type Snapshot struct {
	At     time.Time
	CPUs   []CPUTimes
	Groups map[string]uint64 // group name → ticks of its processes
}

// Groups maps a group name ("gateway", "generator", "sink") to a function
// that lists its pids at sampling time. A process that exits between two
// samples loses its ticks; the harness starts the measured processes
// before the first sample and stops them after the last.
type Groups map[string]func() []int

// Take samples /proc now.
func Take(groups Groups) (Snapshot, error) {
	s := Snapshot{At: time.Now(), Groups: map[string]uint64{}}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	if s.CPUs, err = ParseStat(bytes.NewReader(b)); err != nil {
		return s, err
	}
	for name, pids := range groups {
		var t uint64
		for _, pid := range pids() {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue // exited
			}
			if v, err := ParsePidStat(b); err == nil {
				t += v
			}
		}
		s.Groups[name] = t
	}
	return s, nil
}

// Usage is CPU use over an interval, in cores.
type Usage struct {
	Seconds float64            `json:"seconds"`
	Busy    float64            `json:"busy_cores"`    // all CPUs, all kinds
	SoftIRQ float64            `json:"softirq_cores"` // all CPUs (network receive, XDP on veth)
	System  float64            `json:"system_cores"`
	User    float64            `json:"user_cores"`
	PerCPU  []float64          `json:"per_cpu_busy"`
	Groups  map[string]float64 `json:"groups"` // process groups' user+system
}

// Diff computes the usage between two snapshots.
func Diff(a, b Snapshot) Usage {
	secs := b.At.Sub(a.At).Seconds()
	u := Usage{Seconds: secs, Groups: map[string]float64{}}
	if secs <= 0 {
		return u
	}
	cores := func(ticks uint64) float64 { return float64(ticks) / UserHZ / secs }
	for i := range b.CPUs {
		if i >= len(a.CPUs) {
			break
		}
		d := b.CPUs[i].sub(a.CPUs[i])
		u.Busy += cores(d.Busy())
		u.SoftIRQ += cores(d.SoftIRQ)
		u.System += cores(d.System)
		u.User += cores(d.User + d.Nice)
		u.PerCPU = append(u.PerCPU, cores(d.Busy()))
	}
	for name, t := range b.Groups {
		if t0, ok := a.Groups[name]; ok && t >= t0 {
			u.Groups[name] = cores(t - t0)
		}
	}
	return u
}
