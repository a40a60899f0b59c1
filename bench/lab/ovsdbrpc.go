package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// ovsdbTransact sends one OVSDB "transact" (RFC 7047 §4.1.3) with ops to
// the server on the unix socket sock and returns the per-operation results.
// A deliberately small JSON-RPC client for the scale fixture, which needs
// only to insert tens of thousands of rows in one transaction: ovn-nbctl's
// argv cannot carry that (128 KiB per argument), and the lab stays free of
// the gateway's libovsdb models. It answers the server's echo probes while
// it waits; any operation error fails the call.
func ovsdbTransact(ctx context.Context, sock, db string, ops []any) ([]json.RawMessage, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(10 * time.Minute))
	}
	params := append([]any{db}, ops...)
	if err := json.NewEncoder(c).Encode(map[string]any{"id": 1, "method": "transact", "params": params}); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(c)
	enc := json.NewEncoder(c)
	for {
		var msg struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params json.RawMessage   `json:"params"`
			Result []json.RawMessage `json:"result"`
			Error  json.RawMessage   `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			return nil, fmt.Errorf("ovsdb %s: %w", db, err)
		}
		if msg.Method == "echo" {
			enc.Encode(map[string]any{"id": msg.ID, "result": msg.Params})
			continue
		}
		if string(msg.ID) != "1" {
			continue
		}
		if len(msg.Error) > 0 && string(msg.Error) != "null" {
			return nil, fmt.Errorf("ovsdb %s: transact: %s", db, msg.Error)
		}
		for i, r := range msg.Result {
			var e struct {
				Error   string `json:"error"`
				Details string `json:"details"`
			}
			if json.Unmarshal(r, &e) == nil && e.Error != "" {
				return nil, fmt.Errorf("ovsdb %s: operation %d of %d: %s: %s", db, i, len(ops), e.Error, e.Details)
			}
		}
		return msg.Result, nil
	}
}

// ovsdb JSON value helpers (RFC 7047 §5.1).
func namedUUID(n string) []any { return []any{"named-uuid", n} }
func realUUID(u string) []any  { return []any{"uuid", u} }
func ovsSet(elems ...any) []any {
	if elems == nil {
		elems = []any{}
	}
	return []any{"set", elems}
}
func ovsMap(kv ...string) []any {
	pairs := []any{}
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, []any{kv[i], kv[i+1]})
	}
	return []any{"map", pairs}
}
