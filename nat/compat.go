package nat

import "github.com/xgw-dev/xgw/conntrack"

// Stand-ins for conntrack.Taken and conntrack.Match while conntrack/ is
// being written; they become aliases of the real types once those land.
type (
	ctTaken = interface{ Taken(t conntrack.Tuple) bool }
	ctMatch = struct {
		Dir         conntrack.Dir
		State       conntrack.State
		Orig, Reply conntrack.Tuple
	}
)
