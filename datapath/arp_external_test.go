package datapath

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xgw-dev/xgw/conntrack"
	"github.com/xgw-dev/xgw/flow"
	"github.com/xgw-dev/xgw/internal/seedtest"
)

// externalARP is an ARP frame from the external next hop asking for target.
func externalARP(t *testing.T, op uint16, target net.IP, vlan bool) []byte {
	eth := &layers.Ethernet{SrcMAC: seedtest.MACNextHop, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: seedtest.MACNextHop, SourceProtAddress: []byte{172, 31, 5, 1},
		DstHwAddress: make([]byte, 6), DstProtAddress: target.To4()}
	if vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		return seedtest.Serialize(t, eth, &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeARP}, arp)
	}
	return seedtest.Serialize(t, eth, arp)
}

// TestARPForNATAddress: the upstream network resolves the seed's SNAT
// address; gr1 answers from its external port, on the external side, as
// OVN's router does. The router's own external address is the host's and
// passes to the kernel, as does ARP for an address that is not ours.
func TestARPForNATAddress(t *testing.T) {
	h := newHarness(t, seedtest.ConfigPath(), conntrack.Config{})
	for _, padded := range []bool{false, true} {
		f := externalARP(t, layers.ARPRequest, seedtest.SNAT, false)
		if padded {
			f = append(f, make([]byte, 60-len(f))...) // minimum Ethernet frame
		}
		out := h.run(flow.External, f)
		wantTX(t, out, flow.External)
		if out.Len != len(f) {
			t.Fatalf("reply is %d bytes, request %d", out.Len, len(f))
		}
		pk := seedtest.Decode(out.Frame())
		eth, _ := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		a, ok := pk.Layer(layers.LayerTypeARP).(*layers.ARP)
		if eth == nil || !ok {
			t.Fatalf("reply does not decode as ARP: %v", pk)
		}
		if !bytes.Equal(eth.SrcMAC, seedtest.MACGRExt) || !bytes.Equal(eth.DstMAC, seedtest.MACNextHop) {
			t.Fatalf("reply Ethernet %v -> %v, want %v -> %v", eth.SrcMAC, eth.DstMAC, seedtest.MACGRExt, seedtest.MACNextHop)
		}
		if a.Operation != layers.ARPReply || !bytes.Equal(a.SourceHwAddress, seedtest.MACGRExt) || !bytes.Equal(a.SourceProtAddress, seedtest.SNAT.To4()) ||
			!bytes.Equal(a.DstHwAddress, seedtest.MACNextHop) || !bytes.Equal(a.DstProtAddress, []byte{172, 31, 5, 1}) {
			t.Fatalf("ARP reply: op %d %v/%v -> %v/%v", a.Operation, net.HardwareAddr(a.SourceHwAddress), net.IP(a.SourceProtAddress),
				net.HardwareAddr(a.DstHwAddress), net.IP(a.DstProtAddress))
		}
	}
	if s := h.pl.Stats(); s.ARPReplyExternal != 2 || s.ARPReply != 0 {
		t.Fatalf("counters: external ARP replies %d (want 2), Geneve ARP replies %d (want 0)", s.ARPReplyExternal, s.ARPReply)
	}

	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"the router's external address (the host's)", externalARP(t, layers.ARPRequest, net.IP{172, 31, 5, 230}, false)},
		{"an unknown address", externalARP(t, layers.ARPRequest, net.IP{172, 31, 5, 99}, false)},
		{"a reply from the SNAT address", externalARP(t, layers.ARPReply, seedtest.SNAT, false)},
		{"a tagged request", externalARP(t, layers.ARPRequest, seedtest.SNAT, true)},
		{"a truncated request", externalARP(t, layers.ARPRequest, seedtest.SNAT, false)[:14+27]},
	} {
		if p := h.run(flow.External, c.frame); p.Verdict != VerdictPass {
			t.Errorf("ARP for %s: verdict %v %v, want pass", c.name, p.Verdict, p.Reason)
		}
	}
	if s := h.pl.Stats(); s.ARPReplyExternal != 2 {
		t.Fatalf("external ARP replies %d after frames that are not ours, want 2", s.ARPReplyExternal)
	}
}
