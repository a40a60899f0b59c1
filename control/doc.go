// Package control is xgw's local control socket: HTTP over a unix socket
// that only root may use, serving what operators ask a running gateway.
//
//	GET /stats                       JSON, the Stats document
//	GET /conntrack?zone=N&verbose=1  text, `ovs-appctl dpctl/dump-conntrack [-s]` lines,
//	                                 IPv4 and IPv6 connections (by zone, IPv4 first)
//	GET /flows                       text, connections as dump-flows-like lines, both families
//	POST /reload                     re-read and apply the config file (as SIGHUP);
//	                                 200 + summary, or 422 + the file's problems
//
// HTTP keeps the protocol debuggable with curl
// (curl --unix-socket /run/xgw/xgw.sock http://xgw/stats) while the
// server side stays a few handlers. Access control is the socket's mode
// (0600, in a 0700 directory) plus the peer's uid from SO_PEERCRED, so a
// mis-set mode or a socket moved elsewhere still refuses non-root callers.
package control
