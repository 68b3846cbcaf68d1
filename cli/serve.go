package cli

import (
	"context"
	"os"

	"github.com/go-logr/zapr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
)

func newServeCommand(parts []component.Part) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane until SIGINT or SIGTERM",
		Long: `Run the control plane. Without --config it runs the embedded local default:
a self-signed CA kept in .bootgraph/ca, a serving certificate for localhost,
the secure gRPC listener (CA service) on 127.0.0.1:15012, the webhook and
DNS-over-TLS listeners, and the monitoring listener on 127.0.0.1:15014 with
the live graph at /debug/graph. A token file for local clients is created at
.bootgraph/tokens.csv.

"bootgraph modules" lists every part with its options and defaults.`,
		Args: cobra.NoArgs,
	}
	flags := config.RegisterFlags(cmd.Flags(), parts...)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := flags.Load(os.LookupEnv)
		if err != nil {
			return err
		}
		p, err := cfg.Build()
		if err != nil {
			return err
		}
		// client-go logs (leader election, informers) through the
		// process-global klog: send them to the plane's logger. Set once,
		// here, before anything that uses klog starts.
		klog.SetLogger(zapr.NewLogger(p.Logger().Named("client-go")))
		return p.Run(context.Background())
	}
	return cmd
}
