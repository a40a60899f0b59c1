package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Client talks to a running xgw over its control socket.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client for the socket at path ("" = DefaultSocket).
func NewClient(path string) *Client {
	if path == "" {
		path = DefaultSocket
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	return &Client{path: path, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Stats fetches /stats.
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	body, err := c.get(ctx, "/stats")
	if err != nil {
		return nil, err
	}
	var s Stats
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("xgw: decode stats from %s: %w", c.path, err)
	}
	return &s, nil
}

// StatsJSON fetches /stats as the server sent it.
func (c *Client) StatsJSON(ctx context.Context) ([]byte, error) { return c.get(ctx, "/stats") }

// Conntrack fetches the conntrack dump; zone < 0 means every zone.
func (c *Client) Conntrack(ctx context.Context, zone int, verbose bool) ([]byte, error) {
	q := url.Values{}
	if zone >= 0 {
		q.Set("zone", strconv.Itoa(zone))
	}
	if verbose {
		q.Set("verbose", "1")
	}
	p := "/conntrack"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return c.get(ctx, p)
}

// Flows fetches /flows.
// Flows returns the dump of flows of typ ("", "offloaded" or "software").
func (c *Client) Flows(ctx context.Context, typ string) ([]byte, error) {
	if typ == "" {
		return c.get(ctx, "/flows")
	}
	return c.get(ctx, "/flows?type="+url.QueryEscape(typ))
}

// Show fetches /show: what the gateway serves, as text.
func (c *Client) Show(ctx context.Context) ([]byte, error) { return c.get(ctx, "/show") }

// ReloadError is a reload the gateway refused: Problems are what is wrong
// with the file, one per line; the running configuration stayed.
type ReloadError struct{ Problems string }

func (e *ReloadError) Error() string {
	return "reload refused, the running configuration stays:\n" + e.Problems
}

// Reload asks the gateway to re-read and apply its configuration file and
// returns its summary of what changed. A refused file is a *ReloadError.
func (c *Client) Reload(ctx context.Context) ([]byte, error) {
	body, status, err := c.do(ctx, http.MethodPost, "/reload")
	if err != nil {
		return nil, err
	}
	if status == http.StatusUnprocessableEntity {
		return nil, &ReloadError{Problems: strings.TrimRight(string(body), "\n")}
	}
	return c.check("/reload", body, status)
}

func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	body, status, err := c.do(ctx, http.MethodGet, path)
	if err != nil {
		return nil, err
	}
	return c.check(path, body, status)
}

// do sends one request and reads the whole answer.
func (c *Client) do(ctx context.Context, method, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://xgw"+path, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("xgw: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, c.unreachable(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("xgw: read %s from %s: %w", path, c.path, err)
	}
	return body, resp.StatusCode, nil
}

// check turns a non-200 answer into an error an operator can act on.
func (c *Client) check(path string, body []byte, status int) ([]byte, error) {
	switch status {
	case http.StatusOK:
		return body, nil
	case http.StatusForbidden:
		return nil, fmt.Errorf("xgw: the control socket %s refused the request: %s", c.path, strings.TrimSpace(string(body)))
	}
	return nil, fmt.Errorf("xgw: %s from %s: %d %s: %s", path, c.path, status, http.StatusText(status), strings.TrimSpace(string(body)))
}

// unreachable explains a failed connection in the terms an operator acts on.
func (c *Client) unreachable(err error) error {
	why := err.Error()
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		why = "permission denied: must be root"
	case errors.Is(err, syscall.ENOENT):
		why = "no such socket"
	case errors.Is(err, syscall.ECONNREFUSED):
		why = "connection refused: the socket is stale"
	}
	return fmt.Errorf("xgw: cannot reach the control socket %s: is `xgw run` running? (%s)", c.path, why)
}
