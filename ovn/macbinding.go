package ovn

import (
	"net/netip"
	"slices"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/ovn/sbdb"
	"github.com/xgw-dev/xgw/packet"
)

// macBindingOps records the external neighbours xgw learned (the kernel's
// neighbour table of the external interface) in MAC_Binding, as the
// gateway router's ARP resolution does in ovn-controller 23.03
// (controller/pinctrl.c mac_binding_add_to_sb): a row per (router port,
// IP) with the router's datapath; the MAC and the timestamp are written
// when the row is new or its MAC changed. Rows are never deleted here:
// aging is ovn-northd's (Logical_Router options:mac_binding_age_threshold).
// Only neighbours inside the subnet of a served gateway router's external
// port are recorded, for that port.
func macBindingOps(c client.Client, s *snapshot, topo *config.Config, neigh map[packet.IP4]packet.MAC, nowMS int64) ([]ovsdb.Operation, error) {
	if len(neigh) == 0 || topo == nil {
		return nil, nil
	}
	dpOfRouter := map[string]string{}
	for _, dp := range s.datapaths {
		if dp.ExternalIDs["logical-router"] != "" {
			dpOfRouter[dp.ExternalIDs["name"]] = dp.UUID
		}
	}
	type key struct{ port, ip string }
	existing := map[key]*sbdb.MACBinding{}
	for _, m := range s.macs {
		existing[key{m.LogicalPort, m.IP}] = m
	}
	ips := make([]packet.IP4, 0, len(neigh))
	for ip := range neigh {
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, packet.IP4.Compare)
	var ops []ovsdb.Operation
	for _, r := range topo.Routers {
		if r.Distributed || dpOfRouter[r.Name] == "" {
			continue
		}
		for _, p := range r.Ports {
			if !p.External {
				continue
			}
			pfx := p.IP.Value()
			for _, ip := range ips {
				a := netip.AddrFrom4(ip)
				if !pfx.Masked().Contains(a) || a == pfx.Addr() {
					continue
				}
				mac := neigh[ip].String()
				old := existing[key{p.Name, a.String()}]
				var o []ovsdb.Operation
				var err error
				switch {
				case old == nil:
					o, err = c.Create(&sbdb.MACBinding{LogicalPort: p.Name, IP: a.String(), MAC: mac,
						Datapath: dpOfRouter[r.Name], Timestamp: int(nowMS)})
				case old.MAC != mac:
					upd := &sbdb.MACBinding{UUID: old.UUID, MAC: mac, Timestamp: int(nowMS)}
					o, err = c.Where(upd).Update(upd, &upd.MAC, &upd.Timestamp)
				}
				if err != nil {
					return nil, err
				}
				ops = append(ops, o...)
			}
		}
	}
	return ops, nil
}
