package cpuacct

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

const stat1 = `cpu  100 0 50 1000 0 0 10 0 0 0
cpu0 60 0 30 400 0 0 10 0 0 0
cpu1 40 0 20 600 0 0 0 0 0 0
intr 1 2 3
`

const stat2 = `cpu  300 0 150 1100 0 0 110 0 0 0
cpu0 160 0 80 400 0 0 60 0 0 0
cpu1 140 0 70 700 0 0 50 0 0 0
`

func TestParseStat(t *testing.T) {
	c, err := ParseStat(strings.NewReader(stat1))
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 2 || c[0].User != 60 || c[0].SoftIRQ != 10 || c[1].Idle != 600 {
		t.Fatalf("%+v", c)
	}
	if _, err := ParseStat(strings.NewReader("intr 1\n")); err == nil {
		t.Error("no cpu lines accepted")
	}
}

func TestParsePidStat(t *testing.T) {
	// A comm with a space and a parenthesis, as ovs-vswitchd threads never
	// have but a hostile process name could.
	line := "1234 (we ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 700 300 0 0 20 0 5 0 100 0 0\n"
	v, err := ParsePidStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if v != 1000 {
		t.Errorf("utime+stime = %d, want 1000", v)
	}
	if _, err := ParsePidStat([]byte("1 (x) S 1")); err == nil {
		t.Error("short line accepted")
	}
}

func TestDiffCores(t *testing.T) {
	a0, _ := ParseStat(strings.NewReader(stat1))
	b0, _ := ParseStat(strings.NewReader(stat2))
	t0 := time.Unix(1000, 0)
	a := Snapshot{At: t0, CPUs: a0, Groups: map[string]uint64{"gateway": 100, "gone": 5}}
	b := Snapshot{At: t0.Add(2 * time.Second), CPUs: b0, Groups: map[string]uint64{"gateway": 250}}
	u := Diff(a, b)
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// cpu0 busy +200 ticks, cpu1 +200 ticks over 2 s at 100 Hz: 1 core each.
	near("busy", u.Busy, 2.0)
	near("cpu0", u.PerCPU[0], 1.0)
	near("softirq", u.SoftIRQ, (50+50)/100.0/2)
	near("system", u.System, (50+50)/100.0/2)
	near("gateway", u.Groups["gateway"], 150/100.0/2)
	if _, ok := u.Groups["gone"]; ok {
		t.Error("a group missing from the second sample must not be reported")
	}
}

func TestTakeSelf(t *testing.T) {
	s, err := Take(Groups{"self": func() []int { return []int{os.Getpid()} }})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.CPUs) == 0 {
		t.Fatal("no CPUs")
	}
	if _, ok := s.Groups["self"]; !ok {
		t.Fatal("no self group")
	}
}
