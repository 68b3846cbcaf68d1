package kubetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReapOrphans: a server binary whose parent died is killed; one whose
// parent lives (this test) is not.
func TestReapOrphans(t *testing.T) {
	dir := t.TempDir()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	etcd := filepath.Join(dir, "etcd")
	if err := os.WriteFile(etcd, data, 0o700); err != nil {
		t.Fatal(err)
	}

	owned := exec.Command(etcd, "300")
	if err := owned.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = owned.Process.Kill(); _ = owned.Wait() })

	// sh starts it in the background and exits: init inherits it.
	sh := exec.Command("sh", "-c", `"$0" 300 </dev/null >/dev/null 2>&1 & echo $!`, etcd)
	out, err := sh.Output()
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(orphan, syscall.SIGKILL) })
	waitFor(t, "the orphan to be inherited", func() bool { return ppid(t, orphan) != sh.Process.Pid })
	if p := ppid(t, orphan); p != 1 {
		t.Skipf("orphans are inherited by subreaper %d here, not by init: reapOrphans leaves them alone", p)
	}

	killed := reapOrphans(dir)
	if !slices.Equal(killed, []int{orphan}) {
		t.Fatalf("killed %v, want only the orphan %d (the owned one is %d)", killed, orphan, owned.Process.Pid)
	}
	waitFor(t, "the orphan to die", func() bool {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(orphan), "stat"))
		return err != nil || strings.Contains(string(stat), ") Z ") // gone, or a zombie init has yet to reap
	})
	if err := owned.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the server with a live parent was killed: %v", err)
	}
}

func ppid(t *testing.T, pid int) int {
	t.Helper()
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	p, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}
