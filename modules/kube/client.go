package kube

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// RESTConfig loads the client configuration: opts.Kubeconfig, else
// $KUBECONFIG, else the in-cluster config.
func RESTConfig(opts Options) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = opts.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: opts.Context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		where := opts.Kubeconfig
		if where == "" {
			where = "$KUBECONFIG or the in-cluster config"
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", where, err)
	}
	cfg.UserAgent = "bootgraph"
	opts.SetDefaults()
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	return cfg, nil
}

// Connect makes a client for cfg and waits until the API server answers
// (GET /version), retrying with backoff and logging each failed attempt,
// for at most opts.ConnectTimeout. The error names the server.
func Connect(cfg *rest.Config, opts Options, log *zap.Logger) (*kubeapi.Client, error) {
	client, err := kubeapi.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(opts.ConnectTimeout))
	defer cancel()
	attempt := 0
	var lastErr error
	backoff := wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: 5 * time.Second}
	err = wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		attempt++
		v, err := client.ServerVersion(ctx)
		if err != nil {
			lastErr = err
			log.Warn("waiting for the Kubernetes API server", zap.String("server", cfg.Host), zap.Int("attempt", attempt), zap.Error(err))
			return false, nil
		}
		log.Info("connected to the Kubernetes API server", zap.String("server", cfg.Host), zap.String("version", v.GitVersion))
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("kube: the API server at %s did not answer within %v (the connect timeout) after %d attempts: %w",
			cfg.Host, time.Duration(opts.ConnectTimeout), attempt, lastErr)
	}
	return client, nil
}
