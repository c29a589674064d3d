package main

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
)

// limitListener returns a listener that holds at most n accepted connections
// open at once. It waits for a slot before accepting, so connections beyond
// n stay in the kernel's listen backlog and take no file descriptor of the
// process: thousands of idle clients cannot exhaust them, and a new client
// is accepted as soon as the server's read-header or idle timeout frees a slot.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Accept waits for a free slot, then accepts a connection that gives the slot
// back when it is closed.
func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close closes the listener and ends a pending Accept.
func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// redacted replaces credentials in logs.
const redacted = "REDACTED"

// secretName reports whether a query parameter, log attribute or JSON member
// of that name holds a credential.
func secretName(name string) bool {
	n := strings.ToLower(strings.TrimSuffix(name, "[]"))
	switch n {
	case "token", "access_token", "refresh_token", "id_token", "authorization", "password", "passwd",
		"secret", "client_secret", "api_key", "apikey", "cookie", "set-cookie":
		return true
	}
	return strings.HasSuffix(n, "password") || strings.HasSuffix(n, "token") || strings.HasSuffix(n, "secret")
}

// redactQuery returns a raw query with the values of credential parameters
// (token, password...) replaced by REDACTED, and the values of
// credential-named members of a JSON filter too. The parameters keep their
// order; the rest is left as sent.
func redactQuery(raw string) string {
	if raw == "" {
		return raw
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, v, hasValue := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		switch {
		case secretName(name) && hasValue:
			parts[i] = k + "=" + redacted
		case hasValue && v != "":
			val, err := url.QueryUnescape(v)
			if err != nil || !strings.ContainsAny(val, "{[") {
				continue
			}
			var doc any
			if json.Unmarshal([]byte(val), &doc) != nil {
				continue
			}
			if redactJSON(doc) {
				b, _ := json.Marshal(doc)
				parts[i] = k + "=" + url.QueryEscape(string(b))
			}
		}
	}
	return strings.Join(parts, "&")
}

// redactJSON replaces, in place, the values of credential-named members of
// a decoded JSON document; it reports whether it replaced any.
func redactJSON(doc any) bool {
	changed := false
	switch x := doc.(type) {
	case map[string]any:
		for k, v := range x {
			if secretName(k) {
				x[k] = redacted
				changed = true
			} else if redactJSON(v) {
				changed = true
			}
		}
	case []any:
		for _, v := range x {
			if redactJSON(v) {
				changed = true
			}
		}
	}
	return changed
}

// redactAttr is the log handler's ReplaceAttr: an attribute named like a
// credential is REDACTED, and a "query" attribute goes through redactQuery,
// on every log line (requests, the engine, the HTTP server).
func redactAttr(_ []string, a slog.Attr) slog.Attr {
	switch {
	case a.Value.Kind() == slog.KindGroup:
		return a
	case secretName(a.Key):
		return slog.String(a.Key, redacted)
	case a.Key == "query" && a.Value.Kind() == slog.KindString:
		return slog.String(a.Key, redactQuery(a.Value.String()))
	}
	return a
}
