package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube"
)

// caTimeout bounds `bootgraph ca` against the store (an API server away).
const caTimeout = 30 * time.Second

func newCACommand(parts []component.Part) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Show and rotate the CA's trust bundle, signer and rotation phase",
		Long: `Work on the CA's stored root, where the plane keeps it: the data directory
(<dataDir>/ca) in local mode, the Secret istio-ca-secret (and cacerts) in
Kubernetes mode. The same flags as "serve" choose the plane (--config,
--data-dir, --kubeconfig, --namespace).

"ca rotate" writes the rotation into the store with the store's own
concurrency control (a lock of the data directory; the Secret's
resourceVersion): a running plane sees the change (fsnotify, a Secret
watch, and its ca.reloadInterval check) and adopts it, every replica
alike; a stopped plane resumes it at its next start. No admin endpoint
is involved: who may write the CA's key material may rotate it.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newCAStatusCommand(parts), newCARotateCommand(parts))
	return cmd
}

func newCAStatusCommand(parts []component.Part) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the roots (expiry, fingerprint), the signer, the rotation phase and its next step",
		Args:  cobra.NoArgs,
	}
	flags := config.RegisterFlags(cmd.Flags(), parts...)
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if format != "text" && format != "json" {
			return fmt.Errorf("--format %q: want text or json", format)
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), caTimeout)
		defer cancel()
		opts, store, err := openCAStore(flags)
		if err != nil {
			return err
		}
		st, err := ca.StoredStatus(ctx, opts, store)
		if err != nil {
			return err
		}
		return printCAStatus(cmd.OutOrStdout(), st, format)
	}
	return cmd
}

func newCARotateCommand(parts []component.Part) *cobra.Command {
	var kind, format string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate the self-signed root now: renew (same key) or rekey (new key, with overlap)",
		Long: `Start a rotation of the self-signed root:

  renew  issue the root again with the same key and a new validity; every
         certificate the old root signed verifies with the new one, so it
         takes effect at once (istiod's automatic rotation);
  rekey  make a new key pair and root: it joins the trust bundle first,
         signs after ca.rotation.propagationDelay, the serving certificate
         is issued again from it, and the old root leaves the bundle when
         every certificate it signed has expired (ca.maxCertTTL).

The default is ca.rotation.kind. A plugged-in CA is rotated by replacing its
files (ca.pluggedCertsDir) or its Secret (cacerts): the plane reloads them.`,
		Args: cobra.NoArgs,
	}
	flags := config.RegisterFlags(cmd.Flags(), parts...)
	cmd.Flags().StringVar(&kind, "kind", "", "renew or rekey (default: ca.rotation.kind)")
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if format != "text" && format != "json" {
			return fmt.Errorf("--format %q: want text or json", format)
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), caTimeout)
		defer cancel()
		opts, store, err := openCAStore(flags)
		if err != nil {
			return err
		}
		k := ca.RotationKind(kind)
		if k == "" {
			opts.SetDefaults()
			k = opts.Rotation.Kind
		}
		if k != ca.RotateRenew && k != ca.RotateRekey {
			return fmt.Errorf("--kind %q: want %s or %s", kind, ca.RotateRenew, ca.RotateRekey)
		}
		st, err := ca.RotateStored(ctx, opts, store, k)
		if errors.Is(err, ca.ErrConflict) {
			return fmt.Errorf("%w; the plane changed it at the same moment: run `bootgraph ca status` and try again", err)
		}
		if err != nil {
			return err
		}
		if format == "text" {
			fmt.Fprintf(cmd.OutOrStdout(), "rotation (%s) stored in %s; a running plane adopts it now, a stopped one at its next start\n\n", k, st.Where)
		}
		return printCAStatus(cmd.OutOrStdout(), st, format)
	}
	return cmd
}

// openCAStore finds where the plane that flags choose keeps its root.
func openCAStore(flags *config.Flags) (ca.Options, ca.RotationStore, error) {
	cfg, err := flags.Load(os.LookupEnv)
	if err != nil {
		return ca.Options{}, nil, err
	}
	if !cfg.Enabled("ca") {
		return ca.Options{}, nil, errors.New("the ca part is disabled in this configuration: there is no CA to show or rotate")
	}
	inCluster := cfg.Enabled("kube")
	opts := config.Options[ca.Options](cfg, "ca").Resolve(cfg.Env(), inCluster)
	if !inCluster {
		return opts, ca.FileStore{Dir: opts.DataDir}, nil
	}
	kopts := *config.Options[kube.Options](cfg, "kube")
	kopts.SetDefaults()
	rc, err := kube.RESTConfig(kopts)
	if err != nil {
		return ca.Options{}, nil, err
	}
	client, err := kube.Connect(rc, kopts, zap.NewNop())
	if err != nil {
		return ca.Options{}, nil, err
	}
	return opts, kube.NewSecretStore(client, cfg.Env().Namespace, kopts, zap.NewNop()), nil
}

func printCAStatus(w io.Writer, st ca.Status, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	day := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "CA:\t%s, from %s\n", st.Source, st.Where)
	fmt.Fprintf(tw, "signer:\t%s  sha256:%s\n", st.Signer.Subject, st.Signer.Fingerprint)
	fmt.Fprintf(tw, "\tvalid %s to %s, %s key, issued by %s\n", day(st.Signer.NotBefore), day(st.Signer.NotAfter), st.Signer.Key, st.Signer.Issuer)
	if st.Next != nil {
		fmt.Fprintf(tw, "next signer:\t%s  sha256:%s, valid to %s\n", st.Next.Subject, st.Next.Fingerprint, day(st.Next.NotAfter))
	}
	fmt.Fprintf(tw, "trust bundle:\t%d root(s), in order\n", len(st.Roots))
	for i, r := range st.Roots {
		var roles []string
		for _, role := range []struct {
			on   bool
			name string
		}{{r.Signing, "signing"}, {r.Incoming, "incoming"}, {r.Retiring, "retiring"}} {
			if role.on {
				roles = append(roles, role.name)
			}
		}
		fmt.Fprintf(tw, "  %d.\t%s  sha256:%s\n", i+1, r.Subject, r.Fingerprint)
		fmt.Fprintf(tw, "\texpires %s (%s)  %s\n", day(r.NotAfter), remaining(r.NotAfter), strings.Join(roles, ", "))
	}
	rot := st.Rotation
	phase := string(rot.Phase)
	if rot.Kind != "" {
		phase += fmt.Sprintf(" (last: %s, %s, started %s)", rot.Kind, rot.Reason, day(rot.Started))
	}
	fmt.Fprintf(tw, "rotation:\t%s, generation %d\n", phase, rot.Generation)
	next := st.NextStep
	if !st.NextStepAt.IsZero() {
		next += " at " + day(st.NextStepAt)
	}
	fmt.Fprintf(tw, "next step:\t%s\n", next)
	if st.ReloadError != "" {
		fmt.Fprintf(tw, "refused:\t%s\n", st.ReloadError)
	}
	return tw.Flush()
}

// remaining says how long until t, in days when it is days away.
func remaining(t time.Time) string {
	d := time.Until(t)
	switch {
	case d <= 0:
		return "expired"
	case d >= 48*time.Hour:
		return fmt.Sprintf("in %d days", int(d/(24*time.Hour)))
	}
	return "in " + d.Round(time.Second).String()
}
