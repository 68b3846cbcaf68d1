package footprint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Build builds the main package pkg (e.g. "./cmd/bootgraph") of the module
// in moduleDir into dir and returns the binary's path. The binary leaves
// the page cache (see DropPageCache).
func Build(moduleDir, pkg, dir string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	if err := DropPageCache(bin); err != nil {
		return "", err
	}
	return bin, nil
}

// Process is a started program.
type Process struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr *tailBuffer
}

// Start starts bin with args in local mode (no kubeconfig, not in a pod),
// its stdout readable with ReadyLine; the end of its stderr is kept for
// the error of a failed Stop.
func Start(bin string, args ...string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=", "KUBERNETES_SERVICE_HOST=")
	stderr := &tailBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	return &Process{cmd: cmd, stdout: bufio.NewReader(out), stderr: stderr}, nil
}

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// ReadyLine reads stdout until a line that starts with prefix and returns
// the rest of it; the remaining output is discarded in the background.
func (p *Process) ReadyLine(prefix string) (string, error) {
	for {
		line, err := p.stdout.ReadString('\n')
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			go io.Copy(io.Discard, p.stdout) //nolint:errcheck // drains until exit
			return strings.TrimSpace(rest), nil
		}
		if err != nil {
			return "", fmt.Errorf("%s exited before printing %q: %w; stderr ends:\n%s", p.cmd.Path, prefix, err, p.stderr.String())
		}
	}
}

// Stop sends SIGINT and waits for the process to exit; the error of an
// unclean exit ends with the end of its stderr.
func (p *Process) Stop() error {
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w; stderr ends:\n%s", p.cmd.Path, err, p.stderr.String())
	}
	return nil
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - 8<<10; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// WaitReady polls GET http://addr/ready until it answers 200, as tightly
// as a poll every interval allows, or until ctx is done.
func WaitReady(ctx context.Context, addr string, interval time.Duration) error {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	url := "http://" + addr + "/ready"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", url, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// Memory is a process's resident memory, in bytes. RSS is Anon plus File
// (plus shared memory, none here): File is the pages of the binary and
// libraries mapped in, which for a Go program follow how much code its
// package inits and its work touch (the kernel maps up to 64 KiB around
// each fault); Anon is what the process allocated: heap, stacks, runtime.
type Memory struct {
	RSS  int64 // VmRSS: resident now
	HWM  int64 // VmHWM: the peak resident so far
	Anon int64 // RssAnon: resident anonymous memory
	File int64 // RssFile: resident file-backed pages (the binary's, mostly)
}

// ReadMemory reads VmRSS, VmHWM, RssAnon and RssFile from
// /proc/<pid>/status.
func ReadMemory(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		field := map[string]*int64{"VmRSS": &m.RSS, "VmHWM": &m.HWM, "RssAnon": &m.Anon, "RssFile": &m.File}[key]
		if !ok || field == nil {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("/proc/%d/status %s: %w", pid, key, err)
		}
		*field = kb << 10
	}
	return m, sc.Err()
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}
