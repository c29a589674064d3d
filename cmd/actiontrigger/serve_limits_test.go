package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startServe runs serve in-process with args (plus --addr and --db memory)
// and returns its base URL and printed output; the log goes to logs.
func startServe(t *testing.T, logs io.Writer, args ...string) (base string, out *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, append([]string{"--addr", "127.0.0.1:0", "--db", "memory"}, args...), out, logs)
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	for end := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "try:"); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve ended: %v\n%s", err, out.String())
		default:
		}
		require.True(t, time.Now().Before(end), "serve not ready:\n%s", out.String())
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "listening on ") {
			base = strings.Fields(l)[2]
		}
	}
	return base, out
}

// userTokens reads the "user <id> <name> roles <r> token <t>" lines.
func userTokens(out string) map[string]string {
	toks := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 7 && f[0] == "user" {
			toks[f[2]] = f[6]
		}
	}
	return toks
}

func get(t *testing.T, url, token, role string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if role != "" {
		req.Header.Set("X-Role", role)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// The built-in example ships the grants its printed curl calls need: each
// one, run as printed, answers 200. Members cannot read users; nobody sees
// a password.
func TestServeExampleGrants(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is not installed; the serve test drives the server with it")
		}
		t.Skip("curl is not installed")
	}
	base, out := startServe(t, io.Discard, "--log-level", "error")
	_, try, ok := strings.Cut(out.String(), "try:\n")
	require.True(t, ok)
	calls := 0
	for _, l := range strings.Split(strings.TrimSpace(try), "\n") {
		l = strings.TrimSpace(l)
		require.True(t, strings.HasPrefix(l, "curl "), "a printed call: %q", l)
		code, err := exec.Command("sh", "-c", l+" -s -o /dev/null -w '%{http_code}'").Output()
		require.NoError(t, err, l)
		require.Equal(t, "200", string(code), "printed call %s", l)
		calls++
	}
	require.GreaterOrEqual(t, calls, 4, "the create calls, the task list and the executions")

	toks := userTokens(out.String())
	code, body := get(t, base+"/api/users:list", toks["mina"], "")
	require.Equal(t, 403, code, body)
	code, body = get(t, base+"/api/users:list", toks["joon"], "admin")
	require.Equal(t, 200, code, body)
	require.Contains(t, body, "mina@example.com")
	require.NotContains(t, body, "secret", "the hidden password")
	code, body = get(t, base+"/api/expenses:list?appends=applicant", toks["joon"], "manager")
	require.Equal(t, 200, code, body)
	require.NotContains(t, body, "secret")
}

// Credentials never reach the log: a ?token= parameter, and password members
// of a filter, are REDACTED in the request log line.
func TestServeRedactsCredentialsInLogs(t *testing.T) {
	logs := &syncBuffer{}
	base, out := startServe(t, logs, "--log-level", "info")
	tok := userTokens(out.String())["joon"]
	require.Len(t, tok, 32)
	filter := url.QueryEscape(`{"nickname": "mina", "password": "hunter2"}`)
	code, body := get(t, base+"/api/users:list?token="+tok+"&filter="+filter, "", "admin")
	require.Equal(t, 200, code, "the token in the query authenticates: %s", body)
	code, _ = get(t, base+"/api/expenses:list?access_token=abc123xyz&token="+tok, "", "")
	require.Equal(t, 200, code)
	var lines []string
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		lines = nil
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "msg=request") {
				lines = append(lines, l)
			}
		}
		if len(lines) >= 2 || time.Now().After(end) {
			break
		}
	}
	require.Len(t, lines, 2, logs.String())
	all := logs.String()
	require.NotContains(t, all, tok, "the token is not logged")
	require.NotContains(t, all, "hunter2", "a filter's password is not logged")
	require.NotContains(t, all, "abc123xyz")
	require.Contains(t, lines[0], "token=REDACTED")
	require.Contains(t, lines[0], "path=/api/users:list")
	require.Contains(t, lines[0], "mina", "the rest of the query stays")

	// Any log line: an attribute named like a credential is redacted.
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: redactAttr}))
	log.Info("x", "Authorization", "Bearer t0ps3cret", "password", "p4ss", slog.Group("req", "token", "tk9"), "query", "a=1&token=tk8")
	require.NotContains(t, buf.String(), "t0ps3cret")
	require.NotContains(t, buf.String(), "p4ss")
	require.NotContains(t, buf.String(), "tk9")
	require.NotContains(t, buf.String(), "tk8")
	require.Contains(t, buf.String(), "a=1")
}

// More idle connections than --max-conns do not lock new clients out: the
// cap keeps the process's descriptors bounded, and the idle (or read-header)
// timeout frees slots, so a new client is answered within the idle timeout
// plus one second.
func TestServeConnectionCap(t *testing.T) {
	const maxConns, idle = 50, time.Second
	base, _ := startServe(t, io.Discard, "--log-level", "error", "--max-conns", fmt.Sprint(maxConns), "--idle-timeout", idle.String(),
		"--read-timeout", "5s", "--write-timeout", "5s")
	addr := strings.TrimPrefix(base, "http://")
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			_ = c.Close()
		}
	})
	// Half keep-alive connections left idle after one request, half that never
	// send anything: 1.6 times the cap in all.
	for i := range maxConns * 8 / 5 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		held = append(held, c)
		if i%2 == 0 {
			_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			require.NoError(t, err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Get(base + "/healthz")
	require.NoError(t, err)
	_ = res.Body.Close()
	took := time.Since(start)
	require.Equal(t, 200, res.StatusCode)
	require.Less(t, took, idle+time.Second, "a new client waited %v", took)
	t.Logf("a new client over %d held connections (cap %d) was answered in %v", len(held), maxConns, took)

	// The flags are checked.
	err = serve(context.Background(), []string{"--max-conns", "0"}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "--max-conns")
	err = serve(context.Background(), []string{"--idle-timeout", "0s"}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "--idle-timeout")
}

// The limiting listener accepts at most n connections at once; closing one
// lets the next in.
func TestLimitListener(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := limitListener(tcp, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", tcp.Addr().String())
		require.NoError(t, err)
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted over the cap of 2")
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, first.Close())
	_ = first.Close() // closing twice frees one slot only
	select {
	case c := <-accepted:
		require.NotNil(t, c)
		_ = c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the third connection was not accepted after one closed")
	}
	_ = second.Close()
	require.NoError(t, ln.Close())
	for range accepted {
	}
}
