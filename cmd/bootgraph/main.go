// Command bootgraph runs and inspects bootgraph control planes.
//
//	bootgraph serve [--config FILE]   run the plane (embedded default without --config)
//	bootgraph cert                    get a workload certificate, as an Istio agent does
//	bootgraph version                 print the version
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "bootgraph:", err)
		os.Exit(1)
	}
}
