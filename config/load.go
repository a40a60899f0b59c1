package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/xgw-dev/xgw/nat"
)

// Defaults applied by ApplyDefaults to fields left out of the file.
const (
	DefaultGenevePort    = 6081
	DefaultGeneveTTL     = 64
	DefaultControlSocket = "/run/xgw/xgw.sock"
	// DefaultMetricsListen is loopback only: an operator opts in to
	// exposing the gateway's counters beyond the host.
	DefaultMetricsListen = "127.0.0.1:9477"
	DefaultSNATPortMin   = 1024
	DefaultSNATPortMax   = 65535
)

// MaxFileSize is the largest configuration file Load reads, 16 MiB: far
// more than any real topology, small enough that a wrong path (a log, a
// disk image) is refused at once instead of being read into memory.
const MaxFileSize = 16 << 20

// Load reads, decodes, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ReadFile reads the configuration file at path: a regular file (a
// symbolic link to one is fine) of at most MaxFileSize bytes. Errors name
// the path.
//
// A FIFO, a socket or a device is refused, not read. The gateway reads
// its file at start and on every reload (SIGHUP, xgw reload): open(2) of
// a FIFO waits for a writer and read(2) for its data, so a FIFO at the
// path would hang the reload until someone wrote it, and a character
// device may never end. A clear refusal tells the operator at once what
// is wrong; waiting would look like a hung gateway. The file is opened
// with O_NONBLOCK so that even a FIFO swapped in between the check and
// the open does not block; the check is made again on the open file.
// check-config uses Load too, so it accepts exactly what run and reload
// accept (write a generated config to a file first, not <(...)).
func ReadFile(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if err := regular(path, fi); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := regular(path, fi); err != nil {
		return nil, err
	}
	if fi.Size() > MaxFileSize {
		return nil, tooLarge(path)
	}
	// The file may grow after the stat: the limit is what bounds the read.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(path)
	}
	return data, nil
}

func regular(path string, fi os.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	kind := "not a regular file"
	switch t := fi.Mode().Type(); {
	case t&os.ModeNamedPipe != 0:
		kind = "a FIFO"
	case t&os.ModeSocket != 0:
		kind = "a socket"
	case t&os.ModeDevice != 0:
		kind = "a device"
	case t&os.ModeDir != 0:
		kind = "a directory"
	}
	return fmt.Errorf("%s: is %s, not a regular file; a configuration file must be a regular file (update it by writing a new file and renaming it over the old one)", path, kind)
}

func tooLarge(path string) error {
	return fmt.Errorf("%s: the file is larger than %d MiB (%d bytes), the most a configuration file may be", path, MaxFileSize>>20, MaxFileSize)
}

// Parse decodes one YAML document strictly (unknown keys are errors),
// applies defaults and validates. All problems found are returned together
// (errors.Join of *FieldError where a field can be named).
func Parse(data []byte) (c *Config, err error) {
	// The YAML library is third-party code fed untrusted bytes; a panic in
	// it must not take the gateway down while it reloads its config.
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("config: YAML decoder failed: %v", r)
		}
	}()
	root, err := oneDocument(data)
	if err != nil {
		return nil, err
	}
	lines := newLineIndex()
	p := problems{lines: lines}
	lines.walk(root, reflect.TypeFor[Config](), "", &p)
	if err := p.err(); err != nil {
		return nil, err
	}
	c = new(Config)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, decodeError(err)
	}
	c.lines = lines
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// oneDocument returns the root node of the only document in data.
func oneDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("config: empty file")
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("config: want exactly one YAML document")
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("config: empty file")
	}
	return doc.Content[0], nil
}

var typeErrLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// decodeError turns the decoder's messages into FieldErrors with a line.
// walk catches what it can first, so this is the fallback.
func decodeError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("config: %w", err)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, s := range te.Errors {
		fe := &FieldError{Msg: s}
		if m := typeErrLine.FindStringSubmatch(s); m != nil {
			fe.Line, _ = strconv.Atoi(m[1])
			fe.Msg = m[2]
		}
		errs = append(errs, fe)
	}
	return errors.Join(errs...)
}

// ApplyDefaults fills fields whose zero value means "the default" with that
// default, so that consumers read effective values. Parse calls it; call it
// on a Config built in Go before Validate.
func (c *Config) ApplyDefaults() {
	c.applyOVNDefaults()
	if c.Geneve.Port == 0 {
		c.Geneve.Port = DefaultGenevePort
	}
	if c.Geneve.TTL == 0 {
		c.Geneve.TTL = DefaultGeneveTTL
	}
	if c.Geneve.Checksum == nil {
		on := true
		c.Geneve.Checksum = &on
	}
	if c.XDP.Attach == "" {
		c.XDP.Attach = XDPAttachSelf
	}
	if c.XDP.Attach == XDPAttachAdopt && c.XDP.PinPath == "" {
		c.XDP.PinPath = DefaultXDPPinPath
	}
	if c.Control.Socket == "" {
		c.Control.Socket = DefaultControlSocket
	}
	if c.Metrics.Listen == "" {
		c.Metrics.Listen = DefaultMetricsListen
	}
	for i := range c.Routers {
		r := &c.Routers[i]
		for j := range r.NAT {
			n := &r.NAT[j]
			if n.PortRange != "" {
				continue
			}
			k, err := n.Type.Parse()
			if err != nil {
				continue
			}
			if lo, hi, ok := DefaultPortsFor(k, r.HostShared(*n)); ok {
				n.PortRange = PortRange(fmt.Sprintf("%d-%d", lo, hi))
			}
		}
	}
}

// DefaultPorts is the source-port range a NAT rule of kind k allocates
// from when it has no port_range (ok is false for dnat, which allocates
// none). snat shares its address among many VMs: unprivileged ports, as
// OVS falls back to. A floating IP (dnat_and_snat) is its VM's alone, as
// in OVN, so every port stays the VM's own unless taken.
func DefaultPorts(k nat.Kind) (lo, hi uint16, ok bool) {
	switch k {
	case nat.KindSNAT:
		return DefaultSNATPortMin, DefaultSNATPortMax, true
	case nat.KindDNATAndSNAT:
		return 1, 65535, true
	}
	return 0, 0, false
}
