// Command bootgraph runs and inspects bootgraph control planes.
//
//	bootgraph serve [--config FILE]   run the plane (embedded default without --config)
//	bootgraph cert                    get a workload certificate, as an Istio agent does
//	bootgraph graph                   draw the plane a config would build
//	bootgraph modules                 list the parts, their options and defaults
//	bootgraph version                 print the version
//
// A program with parts of its own builds the same command with package cli.
package main

import (
	"os"

	"github.com/bootgraph/bootgraph/cli"
	"github.com/bootgraph/bootgraph/config"
)

func main() { os.Exit(cli.Main(config.Builtin()...)) }
