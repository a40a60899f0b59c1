package lab

// The scale fixture of the OVN issue (item 10): NB filled with many gateway
// routers bound to gateway01 and many VIFs, SB with the chassis those VIFs
// live on, in a few big OVSDB transactions (ovsdbrpc.go). No dataplane: the
// fake chassis have no OVS; the fixture measures the control plane.
//
// Per router i (0-based):
//
//	switch join-i 10.A.B.0/24 (A.B = i+256 split): gr-i's port .1 and VIFs vif-i-j at .10+j
//	router gr-i options:chassis=gateway01, ports gr-i-join and gr-i-ext (198.18.0.0/15, on switch ext-i)
//	  snat 10.A.B.0/24 -> gr-i's external IP; route 0.0.0.0/0 via 198.18.0.1
//	switch ext-i: gr-i's external port and a localnet port (physnet1), as
//	  ovn-kubernetes gives each node's gateway router its own external switch
// VIF n (counted over all routers) is bound in SB to chassis scale-(n % Chassis),
// whose Encap is geneve 192.0.2.(100+k) and whose other_config copies a real
// ovn-controller's (hv1's) feature flags, so northd does not downgrade.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// ScaleOptions sizes the fixture.
type ScaleOptions struct {
	Routers       int // gateway routers bound to gateway01 (default 1000)
	VIFsPerRouter int // VIFs on each router's join switch (default 20)
	Chassis       int // fake hypervisor chassis holding the VIFs (default 50)
	// NorthdTimeout bounds the wait for northd to compute SB (default 10 min).
	NorthdTimeout time.Duration
}

func (s *ScaleOptions) defaults() {
	if s.Routers <= 0 {
		s.Routers = 1000
	}
	if s.VIFsPerRouter <= 0 {
		s.VIFsPerRouter = 20
	}
	if s.Chassis <= 0 {
		s.Chassis = 50
	}
	if s.NorthdTimeout <= 0 {
		s.NorthdTimeout = 10 * time.Minute
	}
}

// ScaleFill is what FillScale did and how long each part took.
type ScaleFill struct {
	Routers, VIFs, Chassis int
	NBFill                 time.Duration // the NB transaction
	SBChassis              time.Duration // the SB Chassis/Encap transaction
	Northd                 time.Duration // northd computing SB (nbctl --wait=sb sync)
	SBBind                 time.Duration // binding the VIFs to their chassis
	PortBindings           int           // SB Port_Binding rows after northd
	LogicalFlows           int           // SB Logical_Flow rows after northd
}

// ScaleRouterName, ScaleSNATIP and ScaleVIF name the fixture's objects.
func ScaleRouterName(i int) string { return fmt.Sprintf("gr-%d", i) }

// ScaleExternalIP is gr-i's external (and SNAT) address in 198.18.0.0/15.
func ScaleExternalIP(i int) netip.Addr {
	n := i + 2
	return netip.AddrFrom4([4]byte{198, 18 + byte(n>>16), byte(n >> 8), byte(n)})
}

func scaleSubnet(i int) (a, b byte) { n := i + 256; return byte(n >> 8), byte(n) }

// FillScale fills the lab's NB and SB (lab built with NoTopology; hv1 must
// be up, for its feature flags) and waits for northd.
func (o *OVN) FillScale(ctx context.Context, s ScaleOptions) (ScaleFill, error) {
	s.defaults()
	if s.Routers > 60000 || s.VIFsPerRouter > 240 {
		return ScaleFill{}, fmt.Errorf("lab: scale %d routers x %d VIFs does not fit the address plan", s.Routers, s.VIFsPerRouter)
	}
	f := ScaleFill{Routers: s.Routers, VIFs: s.Routers * s.VIFsPerRouter, Chassis: s.Chassis}

	// NB: one transaction.
	var ops []any
	for i := 0; i < s.Routers; i++ {
		a, b := scaleSubnet(i)
		ext := ScaleExternalIP(i)
		r := ScaleRouterName(i)
		id := func(kind string) string { return fmt.Sprintf("%s%d", kind, i) }
		mac := func(kind byte, j int) string {
			return fmt.Sprintf("0a:%02x:%02x:%02x:%02x:%02x", kind, byte(i>>16), byte(i>>8), byte(i), byte(j))
		}
		swPorts := []any{namedUUID(id("jgr"))}
		ops = append(ops,
			map[string]any{"op": "insert", "table": "Logical_Router_Port", "uuid-name": id("lrpj"),
				"row": map[string]any{"name": r + "-join", "mac": mac(1, 0), "networks": fmt.Sprintf("10.%d.%d.1/24", a, b)}},
			map[string]any{"op": "insert", "table": "Logical_Router_Port", "uuid-name": id("lrpe"),
				"row": map[string]any{"name": r + "-ext", "mac": mac(2, 0), "networks": ext.String() + "/15"}},
			map[string]any{"op": "insert", "table": "NAT", "uuid-name": id("nat"),
				"row": map[string]any{"type": "snat", "external_ip": ext.String(), "logical_ip": fmt.Sprintf("10.%d.%d.0/24", a, b)}},
			map[string]any{"op": "insert", "table": "Logical_Router_Static_Route", "uuid-name": id("rt"),
				"row": map[string]any{"ip_prefix": "0.0.0.0/0", "nexthop": "198.18.0.1"}},
			map[string]any{"op": "insert", "table": "Logical_Router", "uuid-name": id("lr"),
				"row": map[string]any{"name": r, "options": ovsMap("chassis", GatewayChassis),
					"ports":         ovsSet(namedUUID(id("lrpj")), namedUUID(id("lrpe"))),
					"nat":           ovsSet(namedUUID(id("nat"))),
					"static_routes": ovsSet(namedUUID(id("rt")))}},
			map[string]any{"op": "insert", "table": "Logical_Switch_Port", "uuid-name": id("jgr"),
				"row": map[string]any{"name": "join-" + r, "type": "router", "addresses": "router",
					"options": ovsMap("router-port", r+"-join")}},
			map[string]any{"op": "insert", "table": "Logical_Switch_Port", "uuid-name": id("egr"),
				"row": map[string]any{"name": "ext-" + r, "type": "router", "addresses": "router",
					"options": ovsMap("router-port", r+"-ext")}},
		)
		// Its own external switch with a localnet port, as ovn-kubernetes
		// gives each node's GR: one shared switch would make northd
		// write ARP flows for every router pair (O(N²) logical flows;
		// 1,000 routers that way filled SB past 15 GB).
		ops = append(ops,
			map[string]any{"op": "insert", "table": "Logical_Switch_Port", "uuid-name": id("eln"),
				"row": map[string]any{"name": "ext-" + fmt.Sprint(i) + "-localnet", "type": "localnet", "addresses": "unknown",
					"options": ovsMap("network_name", PhysNet)}},
			map[string]any{"op": "insert", "table": "Logical_Switch", "uuid-name": id("esw"),
				"row": map[string]any{"name": "ext-" + fmt.Sprint(i), "ports": ovsSet(namedUUID(id("egr")), namedUUID(id("eln")))}},
		)
		for j := 0; j < s.VIFsPerRouter; j++ {
			v := fmt.Sprintf("v%d_%d", i, j)
			ops = append(ops, map[string]any{"op": "insert", "table": "Logical_Switch_Port", "uuid-name": v,
				"row": map[string]any{"name": ScaleVIF(i, j), "addresses": fmt.Sprintf("%s 10.%d.%d.%d", mac(3, j), a, b, 10+j)}})
			swPorts = append(swPorts, namedUUID(v))
		}
		ops = append(ops, map[string]any{"op": "insert", "table": "Logical_Switch", "uuid-name": id("ls"),
			"row": map[string]any{"name": "join-" + fmt.Sprint(i), "ports": ovsSet(swPorts...)}})
	}
	t0 := time.Now()
	if _, err := ovsdbTransact(ctx, o.Plan.NBSock, "OVN_Northbound", ops); err != nil {
		return f, fmt.Errorf("lab: NB fill: %w", err)
	}
	f.NBFill = time.Since(t0)

	// SB: the chassis, with a real ovn-controller's feature flags (hv1
	// registers within a second or two of UpOVN).
	var sel struct {
		Rows []struct {
			OtherConfig json.RawMessage `json:"other_config"`
		} `json:"rows"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := ovsdbTransact(ctx, o.Plan.SBSock, "OVN_Southbound", []any{map[string]any{"op": "select", "table": "Chassis",
			"where": []any{[]any{"name", "==", "hv1"}}, "columns": []string{"other_config"}}})
		if err != nil {
			return f, err
		}
		if err := json.Unmarshal(res[0], &sel); err == nil && len(sel.Rows) == 1 {
			break
		}
		if time.Now().After(deadline) {
			return f, fmt.Errorf("lab: hv1 did not register within 30s (its feature flags are copied to the fake chassis): %s", res[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
	ops = ops[:0]
	for k := 0; k < s.Chassis; k++ {
		name := fmt.Sprintf("scale-%d", k)
		ops = append(ops,
			map[string]any{"op": "insert", "table": "Encap", "uuid-name": fmt.Sprintf("e%d", k),
				"row": map[string]any{"type": "geneve", "ip": fmt.Sprintf("192.0.2.%d", 100+k), "chassis_name": name,
					"options": ovsMap("csum", "true")}},
			map[string]any{"op": "insert", "table": "Chassis", "uuid-name": fmt.Sprintf("c%d", k),
				"row": map[string]any{"name": name, "hostname": name, "encaps": namedUUID(fmt.Sprintf("e%d", k)),
					"other_config": sel.Rows[0].OtherConfig}},
			map[string]any{"op": "insert", "table": "Chassis_Private",
				"row": map[string]any{"name": name, "chassis": namedUUID(fmt.Sprintf("c%d", k))}},
		)
	}
	t0 = time.Now()
	res, err := ovsdbTransact(ctx, o.Plan.SBSock, "OVN_Southbound", ops)
	if err != nil {
		return f, fmt.Errorf("lab: SB chassis: %w", err)
	}
	f.SBChassis = time.Since(t0)
	chassisUUID := make([]string, s.Chassis)
	for k := range chassisUUID {
		var ins struct {
			UUID []string `json:"uuid"`
		}
		if err := json.Unmarshal(res[3*k+1], &ins); err != nil || len(ins.UUID) != 2 {
			return f, fmt.Errorf("lab: SB chassis insert result %s", res[3*k+1])
		}
		chassisUUID[k] = ins.UUID[1]
	}

	// northd computes SB.
	t0 = time.Now()
	nctx, cancel := context.WithTimeout(ctx, s.NorthdTimeout)
	defer cancel()
	if _, err := o.output(nctx, "ovn", "ovn-nbctl", fmt.Sprintf("--timeout=%d", int(s.NorthdTimeout.Seconds())), "--wait=sb", "sync"); err != nil {
		return f, fmt.Errorf("lab: waiting for northd: %w", err)
	}
	f.Northd = time.Since(t0)

	// Bind each VIF's Port_Binding to its chassis (by row UUID: a
	// where on logical_port would scan the table per operation).
	res, err = ovsdbTransact(ctx, o.Plan.SBSock, "OVN_Southbound", []any{map[string]any{"op": "select", "table": "Port_Binding",
		"where": []any{}, "columns": []string{"_uuid", "logical_port"}}})
	if err != nil {
		return f, err
	}
	var pbs struct {
		Rows []struct {
			UUID        []string `json:"_uuid"`
			LogicalPort string   `json:"logical_port"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(res[0], &pbs); err != nil {
		return f, err
	}
	f.PortBindings = len(pbs.Rows)
	byName := make(map[string]string, len(pbs.Rows))
	for _, r := range pbs.Rows {
		if len(r.UUID) == 2 {
			byName[r.LogicalPort] = r.UUID[1]
		}
	}
	ops = ops[:0]
	for i := 0; i < s.Routers; i++ {
		for j := 0; j < s.VIFsPerRouter; j++ {
			u, ok := byName[ScaleVIF(i, j)]
			if !ok {
				return f, fmt.Errorf("lab: northd made no Port_Binding for %s", ScaleVIF(i, j))
			}
			n := i*s.VIFsPerRouter + j
			ops = append(ops, map[string]any{"op": "update", "table": "Port_Binding",
				"where": []any{[]any{"_uuid", "==", realUUID(u)}},
				"row":   map[string]any{"chassis": realUUID(chassisUUID[n%s.Chassis]), "up": true}})
		}
	}
	t0 = time.Now()
	if _, err := ovsdbTransact(ctx, o.Plan.SBSock, "OVN_Southbound", ops); err != nil {
		return f, fmt.Errorf("lab: SB bind: %w", err)
	}
	f.SBBind = time.Since(t0)
	if res, err := ovsdbTransact(ctx, o.Plan.SBSock, "OVN_Southbound", []any{map[string]any{"op": "select",
		"table": "Logical_Flow", "where": []any{}, "columns": []string{"_uuid"}}}); err == nil {
		var lf struct {
			Rows []json.RawMessage `json:"rows"`
		}
		if json.Unmarshal(res[0], &lf) == nil {
			f.LogicalFlows = len(lf.Rows)
		}
	}
	return f, nil
}

// ScaleVIF is the name of VIF j of router i.
func ScaleVIF(i, j int) string { return fmt.Sprintf("vif-%d-%d", i, j) }
