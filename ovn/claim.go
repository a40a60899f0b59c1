package ovn

import (
	"slices"
	"strings"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/xgw-dev/xgw/ovn/sbdb"
)

// claims are the port bindings this chassis must claim and release.
type claims struct {
	claim, release []*sbdb.PortBinding
}

// planClaims follows ovn-controller 23.03's binding.c for the non-VIF
// ports a gateway chassis owns (consider_l3gw_lport and consider_cr_lport
// via consider_nonvif_lport_): an l3gateway binding whose
// options:l3gateway-chassis is ours, and a chassisredirect binding whose
// HA_Chassis_Group makes us the active chassis, are claimed; a binding
// claimed by us that is neither any more is released.
//
// One deviation: xgw claims only what it serves. A gateway router it
// refuses (unsupported features) is not claimed, so that its ports do not
// look up in OVN while nothing forwards for them; served names the
// routers (by NB name) that it serves.
func planClaims(s *snapshot, chassisUUID, chassisName string, served map[string]bool) claims {
	var out claims
	x := newIndex(s, nil)
	routerOfPB := func(pb *sbdb.PortBinding) string {
		// The router side: the datapath's name; the switch side: the
		// router of the peer router port.
		if dp := s.datapaths[pb.Datapath]; dp != nil && dp.ExternalIDs["logical-router"] != "" {
			return dp.ExternalIDs["name"]
		}
		if peer := x.pbByName[pb.Options["peer"]]; peer != nil {
			if dp := s.datapaths[peer.Datapath]; dp != nil {
				return dp.ExternalIDs["name"]
			}
		}
		return ""
	}
	for _, pb := range s.bindings {
		ours := false
		switch pb.Type {
		case "l3gateway":
			ours = pb.Options["l3gateway-chassis"] == chassisName && served[routerOfPB(pb)]
		case "chassisredirect":
			ours = haActive(s, pb.HaChassisGroup, chassisUUID) &&
				!haShared(s, pb.HaChassisGroup, chassisUUID) &&
				served[routerOfPB(pb)]
		default:
			continue
		}
		mine := pb.Chassis != nil && *pb.Chassis == chassisUUID
		switch {
		case ours && (!mine || (pb.Up != nil && !*pb.Up)):
			out.claim = append(out.claim, pb)
		case !ours && mine:
			out.release = append(out.release, pb)
		}
	}
	byName := func(a, b *sbdb.PortBinding) int { return strings.Compare(a.LogicalPort, b.LogicalPort) }
	slices.SortFunc(out.claim, byName)
	slices.SortFunc(out.release, byName)
	return out
}

// haActive reports whether chassis is the active member of an
// HA_Chassis_Group: the member with the highest priority, a tie going to
// the highest chassis name (OVN 23.03 controller/ha-chassis.c,
// compare_chassis_prio_), so that xgw and every ovn-controller agree.
// ovn-controller also skips members whose BFD session to it is down; xgw
// runs no BFD, so it follows priorities alone (documented in
// ovn/README.md).
func haActive(s *snapshot, group *string, chassisUUID string) bool {
	if group == nil || s.haGroups[*group] == nil {
		return false
	}
	best, bestName, bestPrio := "", "", -1
	for _, u := range s.haGroups[*group].HaChassis {
		h := s.haChassis[u]
		if h == nil || h.Chassis == nil {
			continue
		}
		name := ""
		if ch := s.chassis[*h.Chassis]; ch != nil {
			name = ch.Name
		}
		if h.Priority > bestPrio || (h.Priority == bestPrio && name > bestName) {
			best, bestName, bestPrio = *h.Chassis, name, h.Priority
		}
	}
	return best != "" && best == chassisUUID
}

// haShared reports whether chassis is a member of an HA_Chassis_Group
// that has another member whose Chassis row exists. xgw runs no BFD, so
// hypervisors leave it out of their active_tunnels while another
// gateway is in the group: that gateway claims the cr- port, and if xgw
// claimed it back each pass the two would fight over Port_Binding.chassis
// and both answer ARP. Such a group is not served (a Problem per port).
func haShared(s *snapshot, group *string, chassisUUID string) bool {
	if group == nil || s.haGroups[*group] == nil {
		return false
	}
	member, others := false, false
	for _, u := range s.haGroups[*group].HaChassis {
		h := s.haChassis[u]
		if h == nil || h.Chassis == nil {
			continue
		}
		switch {
		case *h.Chassis == chassisUUID:
			member = true
		case s.chassis[*h.Chassis] != nil:
			others = true
		}
	}
	return member && others
}

// claimOps sets Port_Binding.chassis to us and up to true where the row
// has an up value (claim_lport with notify_up false, claimed_lport_set_up).
func claimOps(c client.Client, pb *sbdb.PortBinding, chassisUUID string) ([]ovsdb.Operation, error) {
	upd := &sbdb.PortBinding{UUID: pb.UUID, Chassis: &chassisUUID}
	fields := []any{&upd.Chassis}
	if pb.Up != nil {
		up := true
		upd.Up = &up
		fields = append(fields, &upd.Up)
	}
	return c.Where(upd).Update(upd, fields...)
}

// releaseOps clears Port_Binding.chassis and encap (release_lport_main_chassis).
func releaseOps(c client.Client, pb *sbdb.PortBinding) ([]ovsdb.Operation, error) {
	upd := &sbdb.PortBinding{UUID: pb.UUID}
	fields := []any{&upd.Chassis}
	if pb.Encap != nil {
		fields = append(fields, &upd.Encap)
	}
	return c.Where(upd).Update(upd, fields...)
}
