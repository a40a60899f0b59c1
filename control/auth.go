package control

import (
	"context"
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

type credKey struct{}

// peerCred reads the connecting process's credentials (SO_PEERCRED: taken
// by the kernel at connect time, so the client cannot lie about them).
func peerCred(c net.Conn) (*unix.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("not a unix socket connection (%T)", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		cred, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if gerr != nil {
		return nil, fmt.Errorf("SO_PEERCRED: %w", gerr)
	}
	return cred, nil
}

// connContext stores the peer's credentials (or the error reading them) in
// every request's context; http.Server calls it once per connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	cred, err := peerCred(c)
	if err != nil {
		return context.WithValue(ctx, credKey{}, err)
	}
	return context.WithValue(ctx, credKey{}, cred)
}

// errNotRoot is what a non-root caller is told.
var errNotRoot = errors.New("permission denied: must be root")

// authorize admits only uid 0. Everything the socket serves is read-only
// today, but it reveals every connection through the gateway, and write
// endpoints (flush, reload) will come.
func authorize(ctx context.Context) error {
	switch v := ctx.Value(credKey{}).(type) {
	case *unix.Ucred:
		if v.Uid != 0 {
			return fmt.Errorf("%w (peer uid %d, pid %d)", errNotRoot, v.Uid, v.Pid)
		}
		return nil
	case error:
		return fmt.Errorf("cannot identify the caller: %w", v)
	}
	return errors.New("cannot identify the caller: no credentials")
}
