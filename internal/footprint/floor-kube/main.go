// Command floor-kube is the footprint floor of a plane that talks to
// Kubernetes: it links client-go's typed clientset and gRPC, so that their
// package initialisation runs, answers GET /ready on -addr, and blocks until
// SIGINT or SIGTERM. internal/footprint measures it beside the plane.
package main

import (
	_ "google.golang.org/grpc"
	_ "k8s.io/client-go/kubernetes"

	"github.com/bootgraph/bootgraph/internal/footprint/floor"
)

func main() { floor.Serve() }
