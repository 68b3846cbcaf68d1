// Command floor-grpc is the footprint floor of a CA-only plane: it links
// gRPC only, so that its package initialisation runs, answers GET /ready
// on -addr, and blocks until SIGINT or SIGTERM. internal/footprint
// measures it beside examples/ca-only.
package main

import (
	_ "google.golang.org/grpc"

	"github.com/bootgraph/bootgraph/internal/footprint/floor"
)

func main() { floor.Serve() }
