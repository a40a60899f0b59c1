package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/xgw-dev/xgw/conntrack"
)

// DefaultSocket is where xgw run listens and the CLI connects by default.
const DefaultSocket = "/run/xgw/xgw.sock"

// Provider is what the server asks for data, so that the server does not
// depend on how the engine, the pipeline or the XDP program are built.
type Provider interface {
	// Stats returns a snapshot of every counter.
	Stats() (Stats, error)
	// Conntrack returns the connection table.
	Conntrack() Conntrack
	// Now is the pipeline's clock in nanoseconds (for "used:" ages).
	Now() int64
}

// Reloader is implemented by a Provider that can reload its configuration
// (xgw run's gateway). Reload re-reads the file the gateway was started
// with and applies it, or refuses it and keeps the running one; the
// summary lines say what changed. POST /reload answers 501 for a Provider
// that is not a Reloader.
type Reloader interface {
	Reload() (summary []string, err error)
}

// Shower is implemented by a Provider that can describe what it serves
// (xgw show, GET /show): in OVN mode, the routers, ports, NAT rules, peer
// chassis and unsupported objects, in the spirit of ovn-sbctl show.
type Shower interface {
	Show(w io.Writer) error
}

// Conntrack is what the server reads from the connection tables:
// conntrack.Tables (IPv4 and IPv6, one listing) is one, and so is a
// single *conntrack.Table or *conntrack.Table6.
type Conntrack interface {
	Dump(w io.Writer, opts conntrack.DumpOptions) error
}

// FlowDumper is implemented by a Provider that can list its flows (xgw
// run's gateway, through its offload manager, which knows both the
// offloaded flows and the software ones). typ is "", "offloaded" or
// "software". GET /flows answers 501 for a Provider that is not one.
type FlowDumper interface {
	DumpFlows(w io.Writer, typ string) error
}

// Server serves a Provider on a unix socket.
type Server struct {
	path string
	ln   *net.UnixListener
	srv  *http.Server
}

// Listen creates the socket at path (its directory with mode 0700 if it is
// missing, the socket with mode 0600). A stale socket left by a crashed
// xgw is replaced; a live one is an error, so two gateways never fight
// over one path.
func Listen(path string, p Provider, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control: create the socket directory: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: chmod %s: %w", path, err)
	}
	s := &Server{path: path, ln: ln}
	s.srv = &http.Server{
		Handler:           handler(p, log),
		ConnContext:       connContext,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// removeStale deletes path if it is a socket nobody answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("control: %s exists and is not a socket; not touching it", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("control: %s is in use: another xgw is running", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("control: remove stale socket: %w", err)
	}
	return nil
}

// Serve answers requests until Close; it returns nil after Close.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("control: serve %s: %w", s.path, err)
	}
	return nil
}

// Close stops accepting, waits (up to ctx) for requests in flight and
// removes the socket file.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.ln.Close() // no-op if Shutdown closed it; unlinks the path
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("control: close %s: %w", s.path, err)
	}
	return nil
}

func handler(p Provider, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := p.Stats()
		if err != nil {
			http.Error(w, "stats: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(st)
	})
	mux.HandleFunc("GET /conntrack", func(w http.ResponseWriter, r *http.Request) {
		opts, err := dumpOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var buf bytes.Buffer
		if err := p.Conntrack().Dump(&buf, opts); err != nil {
			http.Error(w, "conntrack dump: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /flows", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		typ := r.URL.Query().Get("type")
		if typ != "" && typ != "offloaded" && typ != "software" {
			http.Error(w, "flows: type must be offloaded or software", http.StatusBadRequest)
			return
		}
		d, ok := p.(FlowDumper)
		if !ok {
			http.Error(w, "flows: not supported by this server", http.StatusNotImplemented)
			return
		}
		if err := d.DumpFlows(&buf, typ); err != nil {
			http.Error(w, "flows: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /show", func(w http.ResponseWriter, r *http.Request) {
		sh, ok := p.(Shower)
		if !ok {
			http.Error(w, "show: not supported by this server", http.StatusNotImplemented)
			return
		}
		var buf bytes.Buffer
		if err := sh.Show(&buf); err != nil {
			http.Error(w, "show: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		rl, ok := p.(Reloader)
		if !ok {
			http.Error(w, "reload: not supported by this server", http.StatusNotImplemented)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		summary, err := rl.Reload()
		if err != nil {
			// 422: the request was fine, the file was not; the body is
			// the problems, one per line, for the CLI to print as is.
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprintln(w, err)
			return
		}
		for _, line := range summary {
			fmt.Fprintln(w, line)
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := authorize(r.Context()); err != nil {
			log.Warn("control: request refused", "path", r.URL.Path, "err", err)
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// dumpOptions reads zone (absent: all zones) and verbose (1 or true).
func dumpOptions(r *http.Request) (opts conntrack.DumpOptions, err error) {
	q := r.URL.Query()
	opts.Zone = -1
	if z := q.Get("zone"); z != "" {
		n, err := strconv.ParseUint(z, 10, 16)
		if err != nil {
			return opts, fmt.Errorf("zone %q: want a number 0..65535", z)
		}
		opts.Zone = int(n)
	}
	switch v := q.Get("verbose"); v {
	case "", "0", "false":
	case "1", "true":
		opts.Verbose = true
	default:
		return opts, fmt.Errorf("verbose %q: want 0 or 1", v)
	}
	return opts, nil
}
