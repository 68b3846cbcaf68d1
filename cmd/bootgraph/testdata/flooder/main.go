// Command flooder opens many TCP connections that send nothing and holds
// them until its standard input ends: the clients of the resource-limit
// tests (cmd/bootgraph/limits_test.go), each in a process of its own, with
// its own open-file limit.
//
//	flooder ADDR N
//
// It prints "flood: opened K (last error: E)" once it has tried N.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: flooder ADDR N")
		os.Exit(2)
	}
	addr := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "flooder: N:", err)
		os.Exit(2)
	}
	// Go raises the soft limit to the hard one at start; say so if that
	// is too low for N.
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < uint64(n)+64 {
		fmt.Fprintf(os.Stderr, "flooder: open-file limit %d is below %d connections\n", rl.Cur, n)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		failed error
		wg     sync.WaitGroup
	)
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 30 * time.Second}
			for range work {
				c, err := d.Dial("tcp", addr)
				mu.Lock()
				if err != nil {
					failed = err
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("flood: opened %d (last error: %v)\n", len(conns), failed)
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
