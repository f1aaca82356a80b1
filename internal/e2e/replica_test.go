package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Time limits of the process harness.
const (
	startTimeout = 30 * time.Second // from exec to the "listening" line
	stopTimeout  = 30 * time.Second // from SIGTERM to exit
)

// replica is one `tokenkeeper serve` of a cluster under a stable name. It
// runs one process at a time: Kill ends it with SIGKILL, Restart starts a
// new one (a new pid, a new port, a new lease owner), Stop ends it with
// SIGTERM and expects a clean exit. Each process logs (stdout after the
// first line, and stderr) to NAME.RUN.log in the cluster's directory.
type replica struct {
	c     *cluster
	name  string
	extra map[string]string

	mu   sync.Mutex
	proc *process // nil while down
	runs int
}

// process is one run of a replica.
type process struct {
	cmd     *exec.Cmd
	url     string // http://127.0.0.1:PORT
	logPath string
	exited  chan struct{}
	err     error // cmd.Wait's result, set before exited closes
	// ended is set before the harness kills or stops the process; an exit
	// without it fails the test.
	ended atomic.Bool
}

// start runs a new process for the replica and waits until it listens.
func (r *replica) start() error {
	r.mu.Lock()
	r.runs++
	run := r.runs
	r.mu.Unlock()
	logPath := filepath.Join(r.c.dir, fmt.Sprintf("%s.%d.log", r.name, run))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.c.bin, "serve")
	cmd.Dir = r.c.dir
	cmd.Env = r.c.environ(r.extra)
	cmd.Stderr = logFile
	dieWithParent(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	p := &process{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	first := make(chan string, 1)
	copied := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// The kernel sends Pdeathsig when the thread that started the child
		// ends, not the process (go.dev/issue/27505): this goroutine keeps
		// its thread until the child is gone.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		go func() {
			defer close(copied)
			br := bufio.NewReader(stdout)
			line, _ := br.ReadString('\n')
			first <- strings.TrimSpace(line)
			io.Copy(logFile, br)
		}()
		<-copied // Wait closes the pipe: read it to the end first
		p.err = cmd.Wait()
		logFile.Close()
		if !p.ended.Load() {
			r.c.t.Errorf("replica %s (pid %d) exited on its own: %v (log %s)", r.name, cmd.Process.Pid, p.err, logPath)
		}
		close(p.exited)
	}()
	if err := <-started; err != nil {
		logFile.Close()
		return fmt.Errorf("start replica %s: %w", r.name, err)
	}

	const prefix = "tokenkeeper listening on "
	select {
	case line := <-first:
		if !strings.HasPrefix(line, prefix) {
			p.kill()
			return fmt.Errorf("replica %s printed %q first, not its address (log %s)", r.name, line, logPath)
		}
		p.url = strings.TrimPrefix(line, prefix)
	case <-time.After(startTimeout):
		p.kill()
		return fmt.Errorf("replica %s did not listen within %v (log %s)", r.name, startTimeout, logPath)
	}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	return nil
}

// current returns the running process, nil while the replica is down.
func (r *replica) current() *process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

// URL returns the base URL of the running process, "" while down.
func (r *replica) URL() string {
	if p := r.current(); p != nil {
		return p.url
	}
	return ""
}

// PID returns the running process's id, 0 while down.
func (r *replica) PID() int {
	if p := r.current(); p != nil {
		return p.cmd.Process.Pid
	}
	return 0
}

// Kill ends the running process with SIGKILL, as a crash would: nothing in
// it gets to run, leases it holds stay in the database until they expire.
func (r *replica) Kill() {
	r.mu.Lock()
	p := r.proc
	r.proc = nil
	r.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// Restart starts a new process for a replica that is down; it fails the
// test when it does not come up.
func (r *replica) Restart() {
	r.c.t.Helper()
	if err := r.start(); err != nil {
		r.c.t.Fatal(err)
	}
}

// Stop ends the running process with SIGTERM and fails the test unless it
// exits with status 0 within stopTimeout.
func (r *replica) Stop() {
	r.c.t.Helper()
	r.mu.Lock()
	p := r.proc
	r.proc = nil
	r.mu.Unlock()
	if p == nil {
		return
	}
	p.ended.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.c.t.Errorf("signal replica %s: %v", r.name, err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			r.c.t.Errorf("replica %s exited after SIGTERM: %v (log %s)", r.name, p.err, p.logPath)
		}
	case <-time.After(stopTimeout):
		p.kill()
		r.c.t.Errorf("replica %s did not stop within %v of SIGTERM", r.name, stopTimeout)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() {
	p.ended.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// killAtLease kills victim with SIGKILL as soon as leases (from
// watchLeases) reports a lease taken by it, and restarts it. When the
// victim turns out to have held no lease any more at its death (the refresh
// was done already), it does so again at its next lease. It returns the
// connections whose leases the dead processes left behind, and the number
// of kills; no leases when the channel closed first.
func (c *cluster) killAtLease(ctx context.Context, victim *replica, leases <-chan string) (orphaned []string, kills int) {
	c.t.Helper()
	for owner := range leases {
		pid := victim.PID()
		if ownerPID(owner) != pid {
			continue
		}
		victim.Kill()
		kills++
		held, err := c.leasesHeldBy(ctx, pid)
		if err != nil {
			c.t.Fatal(err)
		}
		orphaned = append(orphaned, held...)
		victim.Restart()
		if len(held) > 0 {
			break
		}
	}
	return orphaned, kills
}

// ownerPID returns the pid in a lease owner name (refresh.NewOwner:
// host-pid-random), or 0.
func ownerPID(owner string) int {
	parts := strings.Split(owner, "-")
	if len(parts) < 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	return pid
}
