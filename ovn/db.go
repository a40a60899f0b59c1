package ovn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"

	"github.com/xgw-dev/xgw/config"
	"github.com/xgw-dev/xgw/ovn/nbdb"
	"github.com/xgw-dev/xgw/ovn/sbdb"
)

// Supported schema versions: the major version of the schema the models
// were generated from (schema/), and at least its minor version, so that
// every column the models name exists. OVN 23.03 ships OVN_Northbound
// 7.0.0 and OVN_Southbound 20.27.0; later releases keep the majors.
var (
	nbSchema = schemaVersion{name: "OVN_Northbound", major: 7, minor: 0}
	sbSchema = schemaVersion{name: "OVN_Southbound", major: 20, minor: 27}
)

type schemaVersion struct {
	name         string
	major, minor int
}

// check returns an error naming the version found and the one wanted.
func (w schemaVersion) check(version string) error {
	parts := strings.Split(version, ".")
	var v [2]int
	ok := len(parts) == 3
	for i := 0; ok && i < 2; i++ {
		n, err := strconv.Atoi(parts[i])
		ok = err == nil
		v[i] = n
	}
	if !ok || v[0] != w.major || v[1] < w.minor {
		return fmt.Errorf("%s schema version %q is not supported: xgw needs %d.x.y with x >= %d (OVN 23.03 or a later release with the same major version)",
			w.name, version, w.major, w.minor)
	}
	return nil
}

// The tables each database is monitored for: what translation, claiming
// and registration read.
var (
	nbTables = []model.Model{&nbdb.LogicalRouter{}, &nbdb.LogicalRouterPort{}, &nbdb.LogicalSwitch{},
		&nbdb.LogicalSwitchPort{}, &nbdb.NAT{}, &nbdb.LogicalRouterStaticRoute{}}
	sbTables = []model.Model{&sbdb.Chassis{}, &sbdb.ChassisPrivate{}, &sbdb.Encap{}, &sbdb.PortBinding{},
		&sbdb.DatapathBinding{}, &sbdb.HAChassisGroup{}, &sbdb.HAChassis{}, &sbdb.SBGlobal{}, &sbdb.MACBinding{}}
)

// db is one OVN database: a libovsdb client that reconnects by itself
// (with backoff, resyncing its monitor), and whose cache changes kick the
// controller.
type db struct {
	name   string // "nb" or "sb", for logs and metrics
	want   schemaVersion
	tables []model.Model
	c      client.Client

	// dirty: tables whose cache changed since the last takeDirty; all:
	// every table (no pass read them yet, or the cache was resynced).
	// rows: the changed rows, for translate's per-router reuse.
	dirtyMu sync.Mutex
	dirty   map[string]bool
	all     bool
	rows    changes
}

// markDirty records a change to table: from the cache's events, with
// the changed rows m, or from our own transactions, without rows (their
// events, with the rows, follow: until then the next pass lists the
// table again, and its translation does not read what we write).
func (d *db) markDirty(table string, m ...model.Model) {
	d.dirtyMu.Lock()
	if d.dirty == nil {
		d.dirty = map[string]bool{}
	}
	d.dirty[table] = true
	for _, r := range m {
		d.rows.add(r)
	}
	d.dirtyMu.Unlock()
}

// markAll makes the next pass read every table: after a (re)connection,
// whose resync may replace rows without an event per row, or a failed
// pass.
func (d *db) markAll() {
	d.dirtyMu.Lock()
	d.all = true
	d.dirtyMu.Unlock()
}

// takeDirty returns what changed since the last call and resets it. A
// change that lands after it is marked again (its event comes after the
// cache holds it), so a pass that reads a table after takeDirty misses
// nothing: at worst it reads a change twice.
//
// rows is what changed row by row (nil: everything).
func (d *db) takeDirty() (tables func(table string) bool, rows *changes) {
	d.dirtyMu.Lock()
	t, all, ch := d.dirty, d.all, d.rows
	d.dirty, d.all, d.rows = nil, false, changes{}
	d.dirtyMu.Unlock()
	if !all {
		rows = &ch
	}
	return func(table string) bool { return all || t[table] }, rows
}

// dialOptions turns the remotes and TLS files into libovsdb options.
func dialOptions(remotes []string, t config.OVNTLS) ([]client.Option, error) {
	var opts []client.Option
	ssl := false
	for _, r := range remotes {
		if strings.HasPrefix(r, "ssl:") {
			ssl = true
		}
		opts = append(opts, client.WithEndpoint(r))
	}
	if ssl {
		cfg, err := tlsConfig(t)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithTLSConfig(cfg))
	}
	// Reconnect forever: a gateway keeps forwarding with its last topology
	// while the databases are away (backoff.Retry would panic inside
	// libovsdb if the backoff ever gave up).
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0
	// libovsdb's own log repeats every failed reconnect; the controller
	// logs each connection transition once instead.
	lg := logr.Discard()
	// Leader only: with several remotes (a raft cluster), libovsdb
	// connects to the member that leads the database (it reads _Server),
	// and drops and remakes the connection when that member loses the
	// lead. Without it, libovsdb v0.8.1 stays on whichever member
	// answered first and never looks at _Server: a member cut off from
	// its cluster would keep serving its stale copy (ovn-controller's
	// IDL, which may use any member, leaves a disconnected one; libovsdb
	// cannot). Writes would reach the leader through any member; the
	// cost is one more client on the leader. A standalone server counts
	// as leader.
	opts = append(opts, client.WithReconnect(5*time.Second, b), client.WithLogger(&lg),
		client.WithLeaderOnly(true))
	return opts, nil
}

// tlsConfig loads the client certificate and the CA of ssl: remotes.
func tlsConfig(t config.OVNTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.Certificate, t.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("ovn: load the TLS certificate: %w", err)
	}
	ca, err := os.ReadFile(t.CACert)
	if err != nil {
		return nil, fmt.Errorf("ovn: read the CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("ovn: %s holds no PEM certificate", t.CACert)
	}
	// OVSDB servers' certificates name the server's role, not its host:
	// ovn-controller checks the chain only (OVS's stream-ssl does), and so
	// do we.
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12,
		InsecureSkipVerify: true, VerifyPeerCertificate: verifyChain(pool)}, nil
}

// verifyChain checks the peer's chain against pool without a host name.
func verifyChain(pool *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("ovn: the server sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return err
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err
	}
}

// newDB builds the client; nothing connects until connect.
func newDB(name string, dbm model.ClientDBModel, want schemaVersion, tables []model.Model, remotes []string, t config.OVNTLS) (*db, error) {
	opts, err := dialOptions(remotes, t)
	if err != nil {
		return nil, err
	}
	c, err := client.NewOVSDBClient(dbm, opts...)
	if err != nil {
		return nil, fmt.Errorf("ovn: %s client: %w", name, err)
	}
	return &db{name: name, want: want, tables: tables, c: c}, nil
}

// connect makes the first connection, checks the schema and starts the
// monitor. After it succeeds, libovsdb reconnects and resyncs by itself.
func (d *db) connect(ctx context.Context, onChange func()) error {
	if err := d.c.Connect(ctx); err != nil {
		err = fmt.Errorf("ovn: connect to the %s database: %w", strings.ToUpper(d.name), err)
		if m := err.Error(); strings.Contains(m, "validation error") || strings.Contains(m, "target database") {
			// The server is there but holds another database, or a
			// schema whose columns do not match the models: fatal.
			return &schemaError{fmt.Errorf("%w (xgw needs %s %d.x, x >= %d)", err, d.want.name, d.want.major, d.want.minor)}
		}
		return err
	}
	if err := d.want.check(d.c.Schema().Version); err != nil {
		ep := d.c.CurrentEndpoint()
		d.c.Close()
		return &schemaError{fmt.Errorf("ovn: %s database at %s: %w", strings.ToUpper(d.name), ep, err)}
	}
	d.markAll()
	d.c.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(t string, m model.Model) { d.markDirty(t, m); onChange() },
		UpdateFunc: func(t string, old, m model.Model) { d.markDirty(t, old, m); onChange() },
		DeleteFunc: func(t string, m model.Model) { d.markDirty(t, m); onChange() },
	})
	var mopts []client.MonitorOption
	for _, t := range d.tables {
		mopts = append(mopts, client.WithTable(t))
	}
	if _, err := d.c.Monitor(ctx, d.c.NewMonitor(mopts...)); err != nil {
		d.c.Close()
		return fmt.Errorf("ovn: monitor the %s database: %w", strings.ToUpper(d.name), err)
	}
	onChange()
	return nil
}

// schemaError is a database whose schema xgw does not support: retrying
// will not help.
type schemaError struct{ err error }

func (e *schemaError) Error() string { return e.err.Error() }
func (e *schemaError) Unwrap() error { return e.err }
