// Package config loads and validates the YAML file that describes one xgw
// gateway: its interfaces, the Geneve and conntrack parameters, and the
// slice of the OVN logical topology whose traffic it carries.
//
// The file mirrors what OVN's databases say, because the gateway has to
// reproduce OVN's pipeline bit for bit: tunnel keys (VNIs and port keys)
// follow creation order in the databases and are copied, not derived.
// examples/seed.yaml is the seed scenario with every key commented.
//
// # Loading
//
// Load and Parse decode strictly (an unknown key is an error), apply
// defaults (ApplyDefaults) and call Validate. Every problem is reported,
// joined, as a *FieldError that names the field's path and line:
//
//	routers[1].nat[0].external_ip: "1.2.3" is not an IPv4 address (line 42)
//
// Leaf values (addresses, prefixes, MACs, port ranges, durations) are kept
// as the text written, in string types with Parse and Value methods, so
// that one Validate pass can report all of them with their paths. After a
// successful Validate, Value never fails. YAML aliases are refused.
//
// # Schema
//
//	interfaces:
//	  underlay:                 Geneve side
//	    name: string            Linux interface (required)
//	    vtep_ip: IPv4           our VTEP: outer IP of Geneve to IPv4 chassis
//	                            (required unless vtep_ip6 is given)
//	    vtep_ip6: IPv6          our VTEP on an IPv6 underlay: outer IP of
//	                            Geneve to chassis whose encap IP is IPv6
//	    mtu: int                largest outer IPv4 packet; default the
//	                            interface's; a larger DF packet gets ICMP
//	                            fragmentation needed
//	  external:                 plain, NATed side
//	    name: string            Linux interface, may equal underlay.name (required)
//	    mtu: int                largest IPv4 packet sent (OVN's gateway_mtu);
//	                            default the interface's
//	geneve:
//	  port: uint16              UDP port, default 6081
//	  checksum: bool            outer UDP checksum on output, default true
//	  ttl: uint8                outer TTL, default 64
//	  check_outport: bool       drop Geneve that lacks OVN's option or whose
//	                            outport is not the gateway router's join port,
//	                            as only OVN's pipeline sends it; default true
//	icmp:                       ICMP the routers generate (time exceeded, echo
//	                            replies to their own addresses)
//	  rate: int                 per second per source address, default 100;
//	                            negative: generate none
//	  burst: int                default rate
//	conntrack:
//	  capacity: int             max connections, 0 = conntrack's default
//	  timeouts:                 durations ("30s", "24h"); absent/0 = OVS userspace default
//	    tcp_syn_sent, tcp_syn_recv, tcp_established, tcp_fin_wait,
//	    tcp_time_wait, tcp_close, udp_first, udp_single, udp_multiple,
//	    icmp_first, icmp_reply
//	chassis:                    hypervisors that host VMs
//	  - name: string            unique (required)
//	    ip: IP                  its Geneve encap IP, unique, not our VTEP (required);
//	                            IPv4, or IPv6 (Geneve over IPv6: needs vtep_ip6)
//	switches:                   logical switches whose traffic crosses the gateway
//	  - name: string            unique (required)
//	    key: uint32             tunnel key = VNI, 1..16777215, unique
//	    ports:                  at least one
//	      - name: string        unique on the switch (required)
//	        key: uint16         port tunnel key 1..32767, unique on the switch
//	        router_port: string a router port's name: this port attaches it
//	        mac: MAC            } or, for a VM (no router_port), all three:
//	        ip: Addresses       } its MAC, its addresses (one IPv4 and/or one
//	        chassis: string     } IPv6, "10.0.0.5 fd00::5", each inside the
//	                            } subnet of a router port on this switch) and
//	                            } its chassis
//	routers:
//	  - name: string            unique (required)
//	    distributed: bool       true for a distributed router (runs on every
//	                            chassis; the gateway runs its hop for return
//	                            traffic). false: a gateway router
//	    key: uint32             only for a router with a distributed gateway
//	                            port (OVN's chassisredirect shape): its datapath
//	                            tunnel key, the VNI of the traffic hypervisors
//	                            redirect to the gateway after routing it; unique
//	                            among switch and router keys. Its ports other
//	                            than the external one are on tenant switches
//	    zones:                  conntrack zones 1..65535, distinct across all routers;
//	      dnat: uint16          required for gateway routers, optional for
//	      snat: uint16          distributed ones (both or neither)
//	    ports:                  at least one; names unique across all routers
//	      - name: string
//	        mac: MAC            unicast
//	        ip: CIDR            OVN's networks: "172.16.255.3/24", address and
//	                            connected subnet (length 1..31), and/or an IPv6
//	                            one, "172.16.255.3/24 fd00:16::3/64" (length
//	                            1..127, global or unique-local: the port's
//	                            link-local address comes from its MAC); one per
//	                            family; subnets of one router don't overlap
//	        external: bool      on the external network, not on a switch. A gateway
//	                            router has exactly one; a distributed router none.
//	                            Every other port is attached by exactly one switch port.
//	        redirect_key: uint16 the external port of a router with a key: the
//	                            chassisredirect port's tunnel key (the outport
//	                            of redirected traffic), 1..32767
//	    routes:                 static routes
//	      - prefix: Prefix      "0.0.0.0/0", "::/0", "2001:db8:200::/64"; host
//	                            bits zero, unique per router (quote "::/0"
//	                            inside a { } mapping)
//	        nexthop: IP         of the prefix's family, inside a connected
//	                            subnet of the router; not link-local (a route
//	                            has no output port to scope it)
//	    nat:                    gateway routers only; NAT44 or NAT66 (OVN's),
//	                            never across families. IPv6 that no rule
//	                            covers is routed without NAT (OVN's default);
//	                            such routed IPv6 prefixes (static routes
//	                            through a join port) must not overlap across
//	                            gateway routers
//	      - type: string        snat | dnat | dnat_and_snat
//	        logical_ip: Prefix  snat: a network; dnat, dnat_and_snat: one address
//	                            (IPv6: not link-local or multicast)
//	        external_ip: IP     of logical_ip's family; unicast, not link-local;
//	                            the external port needs a network of that
//	                            family; an address no other router uses (NAT or port);
//	                            snat may use the router's own external port
//	                            address, which it then shares with the host
//	                            by port (dnat may not: it would take the
//	                            host's traffic)
//	        port_range: string  "1024-65535" or "5000": source ports for snat
//	                            (default 1024-65535; 61000-65535 when SNATing
//	                            to the router's own address, and xgw run
//	                            refuses a range there that holds the host's
//	                            ephemeral ports or listening ports:
//	                            Config.CheckHostPorts) and dnat_and_snat
//	                            (default 1-65535: a floating IP is its VM's);
//	                            not for dnat
//	        mapping: string     endpoint-dependent (default, as OVS and OVN: a
//	                            port per connection) or endpoint-independent
//	                            (RFC 4787 REQ-1: an inside address:port keeps one
//	                            external port toward every destination while any
//	                            of its connections lives); snat* only
//	offload:                    the XDP fast path for established connections
//	  enabled: bool             promote connections to the fast path
//	  udp_oneway: bool          also promote UDP flows never answered (default
//	                            true; false keeps them in software, as OVS does)
//	  udp_oneway_packets: int   promote one-way UDP after N packets, 0 = default
//	  udp_oneway_ms: int        or after T ms, 0 = default
//	  flows: int                fast-path map size (2 per connection), 0 = 65536
//	                            (32k connections); a miss costs more in a larger map
//	  pin_path: string          bpffs directory for pinned maps and links,
//	                            default /sys/fs/bpf/xgw; "none" pins nothing
//	afxdp:                      AF_XDP socket sizes, per interface and RX queue
//	  frames: int               UMEM chunks of 2 KiB, default 16384 (32 MiB)
//	  fill_ring: int            default frames/2; with rx_ring, what arrives
//	  rx_ring: int              while a worker stalls (8192: 200 ms at 40 kpps)
//	  tx_ring: int              default frames/4
//	  completion_ring: int      default frames/4, at least tx_ring
//	                            (powers of two; not changed by a reload)
//	xdp:                        who attaches the XDP program (bpf/README.md)
//	  attach: string            self (default): xgw loads and attaches it;
//	                            adopt: an operator attached gw_bpfel.o (ip link,
//	                            bpftool); xgw opens its pinned maps, detaches nothing
//	  pin_path: string          adopt: directory of those pins, default
//	                            /sys/fs/bpf/xdp/globals (iproute2's)
//	control:
//	  socket: string            absolute path of the CLI's unix socket,
//	                            default /run/xgw/xgw.sock
//	metrics:
//	  listen: string            IP:PORT of the Prometheus /metrics endpoint,
//	                            default 127.0.0.1:9477 (loopback only);
//	                            "0.0.0.0:9477" to publish it, "off" to
//	                            disable it
//
// Several tenants with the same addresses are expressed as several
// distributed/gateway router pairs, each with its own join switch (VNI),
// zones and external addresses; see examples/two-tenants.yaml. A dual-stack
// topology (NAT66, a routed IPv6 prefix, Geneve over an IPv6 underlay) is
// examples/dual-stack.yaml.
package config
