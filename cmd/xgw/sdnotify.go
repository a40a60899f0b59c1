package main

import (
	"net"
	"os"
	"strings"
)

// sdNotify sends a state to systemd when xgw runs as a Type=notify service
// (NOTIFY_SOCKET set): READY=1 once forwarding, RELOADING=1 / READY=1
// around a reload, STOPPING=1 on the way out, STATUS= for `systemctl
// status`. The protocol is one datagram per message; outside systemd it
// does nothing. Errors are ignored: a notification is advice.
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:] // abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}
