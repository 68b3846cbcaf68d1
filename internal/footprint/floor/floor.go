// Package floor is the body of the footprint floor programs (floor-kube,
// floor-grpc): the least a process that links a plane's dependencies does
// to be found ready. It imports nothing heavy itself.
package floor

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

// Serve is the body of a floor program: it answers GET /ready on
// -addr (default 127.0.0.1:0), prints "ready <addr>" once listening, and
// blocks until SIGINT or SIGTERM.
func Serve() {
	addr := flag.String("addr", "127.0.0.1:0", "address for GET /ready")
	flag.Parse()
	// Before ready: a SIGINT right after the first answer must stop it
	// cleanly, as it does a plane.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		stop()
		os.Exit(1) //nolint:gocritic // stop ran
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ready") })
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }() // ends with Shutdown
	fmt.Println("ready", l.Addr())
	<-ctx.Done()
	_ = srv.Shutdown(context.Background()) // exiting
}
