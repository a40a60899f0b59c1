package harness

import (
	"strconv"
	"strings"
)

// ifCounters reads `ethtool -S` of an interface: for veths that includes
// per-queue XDP verdicts, drops and peer transmit errors, which say where
// packets were lost between generator, gateway and sink.
func (e *Env) ifCounters(role, iface string) map[string]float64 {
	out, err := e.Run(role, "ethtool", "-S", iface)
	if err != nil {
		return nil
	}
	m := parseEthtoolS(out)
	// Drops of the stack's transmit into a veth whose peer's ring is full
	// are only in the device stats (ip -s link), not in ethtool -S.
	st, err := e.Run(role, "sh", "-c", "cd /sys/class/net/"+iface+"/statistics && grep . rx_dropped tx_dropped rx_packets tx_packets")
	if err == nil {
		for _, line := range strings.Split(st, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					m["dev_"+k] = f
				}
			}
		}
	}
	return m
}

func parseEthtoolS(out string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			m[strings.TrimSpace(k)] = f
		}
	}
	return m
}

// pathInterfaces are the four veth ends a packet crosses, by role.
func (e *Env) pathInterfaces() [][2]string {
	return [][2]string{{RoleGen, e.A.GenIface}, {RoleGW, e.A.Underlay}, {RoleGW, e.A.External}, {RoleExt, e.A.SinkIface}}
}

// snapshotIfaces reads every path interface's counters.
func (e *Env) snapshotIfaces() map[string]map[string]float64 {
	s := map[string]map[string]float64{}
	for _, ri := range e.pathInterfaces() {
		s[ri[1]] = e.ifCounters(ri[0], ri[1])
	}
	return s
}

// ifaceDeltas returns after-before of every counter that moved.
func ifaceDeltas(before, after map[string]map[string]float64) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for ifc, a := range after {
		d := map[string]float64{}
		for k, v := range a {
			if dv := v - before[ifc][k]; dv != 0 {
				d[k] = dv
			}
		}
		if len(d) > 0 {
			out[ifc] = d
		}
	}
	return out
}
