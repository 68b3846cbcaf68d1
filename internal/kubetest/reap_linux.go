package kubetest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// reapOrphans kills the processes started from the binaries in dir (etcd,
// kube-apiserver) whose parent has died, and returns their pids. A test
// binary that go test kills at its -timeout cannot stop its servers; they
// are inherited by init and would load every later test
// and benchmark on the machine. A server of a test binary still running
// has that binary as its parent and is left alone.
func reapOrphans(dir string) []int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var killed []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", p.Name(), "exe"))
		if err != nil || filepath.Dir(exe) != dir {
			continue
		}
		if parentAlive(pid) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			fmt.Fprintf(os.Stderr, "kubetest: killed %s (pid %d), left running by a test binary that died\n", filepath.Base(exe), pid)
			killed = append(killed, pid)
		}
	}
	return killed
}

// parentAlive reports whether pid's parent is a process other than init,
// which inherits orphans: whether something still owns it. (Where a
// subreaper inherits them instead, orphans are left alone.)
func parentAlive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // gone, or not ours to judge
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return true
	}
	var state byte
	var ppid int
	if _, err := fmt.Sscanf(string(stat[i+1:]), " %c %d", &state, &ppid); err != nil {
		return true
	}
	return ppid != 1
}
