package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Threaded NAPI. Without it, a veth's receive work (its XDP program, the
// copy into an AF_XDP socket, the stack) runs in the softirq of whichever
// CPU transmitted into it, inside that task's syscall: the sink's XDP ran
// inside the gateway's sendto and was charged to the gateway (both as its
// system time and as softirq), and the gateway's own XDP ran inside the
// generator's sendto. With /sys/class/net/<dev>/threaded set, each NAPI
// instance polls in its own kernel thread, "napi/<dev>-<id>", whose CPU
// time /proc/<pid>/stat shows and whose CPU can be set. The harness
// threads every lab veth that has a NAPI instance at the start of each
// measurement window (a veth gets one when an XDP program is attached, so
// the gateway's must be in place), pins the gateway's devices' threads to
// the gateway's CPU and the generator's and sink's to the generator's, and
// counts each thread in its owner's group.

// napiDev is one interface whose receive work belongs to a group.
type napiDev struct {
	role, iface, group string
	cpu                int
}

// napiThreads is the outcome for one window: the kernel threads found per
// group and what could not be done.
type napiThreads struct {
	pids  map[string][]int // group → napi thread pids
	notes []string
}

func (c *runCtx) napiDevs() []napiDev {
	a := c.e.A
	return []napiDev{
		{RoleGW, a.Underlay, "gateway", c.o.GatewayCPU},
		{RoleGW, a.External, "gateway", c.o.GatewayCPU},
		{RoleGen, a.GenIface, "generator", c.o.GenCPU},
		{RoleExt, a.SinkIface, "sink", c.o.GenCPU},
	}
}

// threadNAPI turns threaded NAPI on for the devices, finds their threads
// and pins them.
func (c *runCtx) threadNAPI() napiThreads {
	nt := napiThreads{pids: map[string][]int{}}
	for _, d := range c.napiDevs() {
		if d.iface == "" {
			continue
		}
		// EOPNOTSUPP when the device has no NAPI instance (a veth without
		// XDP, GRO off): its receive work then stays in softirq, which the
		// gateway's figure still counts.
		if _, err := c.e.Run(d.role, "sh", "-c", "echo 1 > /sys/class/net/"+d.iface+"/threaded"); err != nil {
			nt.notes = append(nt.notes, fmt.Sprintf("%s/%s: no threaded NAPI (no NAPI instance): its receive work stays in softirq", d.role, d.iface))
			continue
		}
		pids := napiPIDs(d.iface)
		if len(pids) == 0 {
			nt.notes = append(nt.notes, fmt.Sprintf("%s/%s: threaded NAPI on but no napi/%s-* thread found", d.role, d.iface, d.iface))
			continue
		}
		for _, pid := range pids {
			if d.cpu >= 0 {
				var set unix.CPUSet
				set.Set(d.cpu)
				if err := unix.SchedSetaffinity(pid, &set); err != nil {
					nt.notes = append(nt.notes, fmt.Sprintf("pin napi thread %d (%s) to CPU %d: %v", pid, d.iface, d.cpu, err))
				}
			}
		}
		nt.pids[d.group] = append(nt.pids[d.group], pids...)
	}
	return nt
}

// napiPIDs lists the kernel threads polling iface's NAPI instances. Thread
// names are truncated to 15 bytes, so a long name matches on its prefix.
// Devices of the same name in other namespaces (another lab) would match
// too; only labs that turned threaded NAPI on have such threads, and
// heavy runs are serialized.
func napiPIDs(iface string) []int {
	prefix := "napi/" + iface + "-"
	if len(prefix) > 15 {
		prefix = prefix[:15]
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(string(comm)), prefix) {
			pids = append(pids, pid)
		}
	}
	return pids
}
