package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serveMemory starts `tokenkeeper serve` on the table and reads its
// resident memory after startup and after the scheduler refreshed the due
// connections.
func (h *harness) serveMemory(ctx context.Context, t *scaleTable, prov *Provider) error {
	provFile := filepath.Join(h.dir, "providers.yaml")
	p := prov.Provider("bench")
	yaml := fmt.Sprintf("providers:\n  bench:\n    display_name: bench\n    auth_url: %q\n    token_url: %q\n    auth_method: post\n    pkce: supported\n    client_id: %q\n    client_secret: %q\n    rotates: true\n    access_token_lifetime: 1h\n",
		p.AuthURL, p.TokenURL, p.ClientID, p.ClientSecret.Reveal())
	if err := os.WriteFile(provFile, []byte(yaml), 0o600); err != nil {
		return err
	}
	before := prov.Stats().Refreshes
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.o.ServeBinary, "serve", "--database-url", t.db.url, "--listen", "127.0.0.1:0",
		"--providers", provFile, "--log-level", "error")
	cmd.Env = append(withoutTokenkeeperEnv(os.Environ()),
		"TOKENKEEPER_ENCRYPTION_KEYS="+t.e.ring.Encode(),
		"TOKENKEEPER_PROVIDER_RATE_LIMIT=0", // no rate limit: the pass should not take minutes
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return errors.New("serve did not stop within 30 s of SIGTERM")
		}
	}
	defer stop()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("serve printed no address: %v; stderr: %s", err, tail(stderr.String()))
	}
	addr := strings.TrimSpace(line[strings.LastIndex(line, " ")+1:])
	if err := waitReady(ctx, addr+"/readyz"); err != nil {
		return fmt.Errorf("%w; stderr: %s", err, tail(stderr.String()))
	}
	startup, _, err := procMemory(cmd.Process.Pid)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for prov.Stats().Refreshes-before < int64(h.s.Due) {
		if time.Now().After(deadline) {
			return fmt.Errorf("serve refreshed %d of %d due connections in 2 minutes", prov.Stats().Refreshes-before, h.s.Due)
		}
		time.Sleep(100 * time.Millisecond) // polling another process: nothing to wait on
	}
	time.Sleep(time.Second) // let the last saves land
	after, peak, err := procMemory(cmd.Process.Pid)
	if err != nil {
		return err
	}
	if err := stop(); err != nil {
		return fmt.Errorf("stop serve: %w; stderr: %s", err, tail(stderr.String()))
	}
	worst := max(startup, after)
	h.rep.add(Row{
		Part: PartScale, Name: fmt.Sprintf("resident memory (VmRSS) of `tokenkeeper serve`, SQLite, %d stored: after startup / after a scheduler pass refreshing %d (peak VmHWM)", t.stored, h.s.Due),
		Ours:   fmt.Sprintf("%s / %s (%s)", fmtBytes(startup), fmtBytes(after), fmtBytes(peak)),
		Target: "< 150 MB", Met: verdict(worst < 150_000_000), Note: h.storedNote(t.stored),
	})
	if r := prov.Stats().Reuses; r > 0 {
		h.rep.detail("serve memory: the provider saw %d reused refresh tokens", r)
	}
	return nil
}

// withoutTokenkeeperEnv drops TOKENKEEPER_* settings, so that the child
// serve process is configured by the harness alone.
func withoutTokenkeeperEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "TOKENKEEPER_") {
			out = append(out, kv)
		}
	}
	return out
}

// waitReady polls url until it answers 200.
func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond) // polling another process
	}
	return errors.New("serve did not become ready within a minute")
}

// procMemory returns a process's VmRSS and VmHWM in bytes (Linux).
func procMemory(pid int) (rss, hwm int64, err error) {
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	read := func(key string) (int64, error) {
		v := procField(path, key)
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read %s of %s: %q", key, path, v)
		}
		return kb << 10, nil
	}
	if rss, err = read("VmRSS"); err != nil {
		return 0, 0, err
	}
	hwm, err = read("VmHWM")
	return rss, hwm, err
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}
