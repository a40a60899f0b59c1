package flow

// Port names one of the gateway's two sides. They may be the same Linux
// interface; the datapath maps them to AF_XDP ports and a fast path to
// interface indexes.
type Port uint8

const (
	Underlay Port = iota // Geneve to and from hypervisors
	External             // plain IP to and from the internet
	NumPorts
)

func (p Port) String() string {
	switch p {
	case Underlay:
		return "underlay"
	case External:
		return "external"
	}
	return "unknown"
}
