// Package cli is the bootgraph command line as a library, so that a
// program with parts of its own builds the same CLI around them:
//
//	func main() { os.Exit(cli.Main(append(config.Builtin(), mypart.Part)...)) }
//
// Every part gets its config section, --enable/--disable, its flags, a row
// in `bootgraph modules`, its nodes in `bootgraph graph`, and its name in
// the hints of a composition that lacks it.
package cli

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
)

// version is set at build time with -ldflags "-X github.com/bootgraph/bootgraph/cli.version=...".
var version = ""

// New returns the bootgraph command for parts (config.Builtin() when none
// are given).
func New(parts ...component.Part) *cobra.Command {
	if len(parts) == 0 {
		parts = config.Builtin()
	}
	root := &cobra.Command{
		Use:           "bootgraph",
		Short:         "A declarative control plane: CA, serving certificate and TLS listeners started in dependency order",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(parts), newCertCommand(), newCACommand(parts), newGraphCommand(parts), newModulesCommand(parts), newVersionCommand())
	return root
}

// Main runs the command for parts with the process's arguments and
// returns the exit code: 0, or 1 after printing the error.
func Main(parts ...component.Part) int {
	if err := New(parts...).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "bootgraph:", err)
		return 1
	}
	return 0
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			cmd.Println("bootgraph", buildVersion())
		},
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		v := info.Main.Version
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		return v
	}
	return "unknown"
}
