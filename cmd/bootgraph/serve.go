package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/go-logr/zapr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/modules/graphpage"
)

// configFlags are the flags shared by commands that build a plane.
type configFlags struct {
	configFile     string
	dataDir        string
	namespace      string
	grpcAddr       string
	webhookAddr    string
	dnsAddr        string
	monitoringAddr string
	enable         []string
	disable        []string
	logLevel       string
	kubeconfig     string
	// istiod-compatible flags
	caCertFile  string
	tlsCertFile string
	tlsKeyFile  string
}

func (f *configFlags) register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.configFile, "config", "c", "", "YAML config file (default: the embedded local default)")
	fs.StringVar(&f.namespace, "namespace", "", "the control plane's namespace (config namespace; env POD_NAMESPACE; default istio-system)")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory for local state: CA and token file (config dataDir; default .bootgraph)")
	fs.StringVar(&f.grpcAddr, "grpc-addr", "", "secure gRPC listen address (config grpc.addr; default 127.0.0.1:15012)")
	fs.StringVar(&f.webhookAddr, "webhook-addr", "", "HTTPS webhook listen address (config webhook.addr; default 127.0.0.1:15017)")
	fs.StringVar(&f.dnsAddr, "dns-addr", "", "DNS-over-TLS listen address (config dns.addr; default 127.0.0.1:15053)")
	fs.StringVar(&f.monitoringAddr, "monitoring-addr", "", "monitoring listen address (config monitoring.addr; default 127.0.0.1:15014)")
	fs.StringSliceVar(&f.enable, "enable", nil, "parts to include, overriding the config: "+strings.Join(partNames, ","))
	fs.StringSliceVar(&f.disable, "disable", nil, "parts to leave out, overriding the config: "+strings.Join(partNames, ","))
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (config log.level)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file: Kubernetes mode (config kube.kubeconfig; default $KUBECONFIG)")
	fs.StringVar(&f.caCertFile, "caCertFile", "", "roots trusted for client certificates, with the files provider (istiod flag)")
	fs.StringVar(&f.tlsCertFile, "tlsCertFile", "", "serving certificate chain file; selects the files provider (istiod flag)")
	fs.StringVar(&f.tlsKeyFile, "tlsKeyFile", "", "serving key file; selects the files provider (istiod flag)")
}

// load builds the config with precedence flags > env > file > defaults.
func (f *configFlags) load(fs *pflag.FlagSet) (bootgraph.Config, error) {
	var cfg bootgraph.Config
	if f.configFile != "" {
		var err error
		if cfg, err = bootgraph.LoadConfig(f.configFile); err != nil {
			return cfg, err
		}
	}
	cfg.ApplyEnv(os.LookupEnv)
	set := func(name string, dst *string, v string) {
		if fs.Changed(name) {
			*dst = v
		}
	}
	set("data-dir", &cfg.DataDir, f.dataDir)
	set("namespace", &cfg.Namespace, f.namespace)
	set("grpc-addr", &cfg.GRPC.Addr, f.grpcAddr)
	set("webhook-addr", &cfg.Webhook.Addr, f.webhookAddr)
	set("dns-addr", &cfg.DNS.Addr, f.dnsAddr)
	set("monitoring-addr", &cfg.Monitoring.Addr, f.monitoringAddr)
	set("log-level", &cfg.Log.Level, f.logLevel)
	set("kubeconfig", &cfg.Kube.Kubeconfig, f.kubeconfig)
	set("caCertFile", &cfg.ServingCert.CACertFile, f.caCertFile)
	set("tlsCertFile", &cfg.ServingCert.CertFile, f.tlsCertFile)
	set("tlsKeyFile", &cfg.ServingCert.KeyFile, f.tlsKeyFile)
	for _, list := range []struct {
		names []string
		on    bool
	}{{f.enable, true}, {f.disable, false}} {
		for _, name := range list.names {
			if err := setEnabled(&cfg, name, list.on); err != nil {
				return cfg, err
			}
		}
	}
	if fs.Changed("tlsCertFile") || fs.Changed("tlsKeyFile") {
		// istiod: custom certificate files win over any provider setting.
		cfg.ServingCert.Provider = "files"
	}
	return cfg, nil
}

// partNames are the parts --enable and --disable accept.
var partNames = []string{"ca", "grpc", "webhook", "dns", "monitoring", "kube"}

func setEnabled(cfg *bootgraph.Config, name string, on bool) error {
	parts := map[string]**bool{
		"ca": &cfg.CA.Enabled, "grpc": &cfg.GRPC.Enabled,
		"webhook": &cfg.Webhook.Enabled, "dns": &cfg.DNS.Enabled, "monitoring": &cfg.Monitoring.Enabled,
		"kube": &cfg.Kube.Enabled,
	}
	p, ok := parts[name]
	if !ok {
		return fmt.Errorf("--enable/--disable: unknown part %q, want one of %s", name, strings.Join(partNames, ", "))
	}
	*p = &on
	return nil
}

func newServeCommand() *cobra.Command {
	var flags configFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane until SIGINT or SIGTERM",
		Long: `Run the control plane. Without --config it runs the embedded local default:
a self-signed CA kept in .bootgraph/ca, a serving certificate for localhost,
the secure gRPC listener (CA service) on 127.0.0.1:15012 and the monitoring
listener on 127.0.0.1:15014. A token file for local clients is created at
.bootgraph/tokens.csv.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.load(cmd.Flags())
			if err != nil {
				return err
			}
			p, err := bootgraph.New(cfg, graphpage.Module())
			if err != nil {
				return err
			}
			// client-go logs (leader election, informers) through the
			// process-global klog: send them to the plane's logger. Set once,
			// here, before anything that uses klog starts.
			klog.SetLogger(zapr.NewLogger(p.Logger().Named("client-go")))
			return p.Run(context.Background())
		},
	}
	flags.register(cmd.Flags())
	return cmd
}
