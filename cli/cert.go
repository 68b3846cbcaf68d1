package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/internal/pemutil"
)

type certFlags struct {
	addr, root, serverName string
	token, tokenFile       string
	clientCert, clientKey  string
	out, keyType           string
	ttl, timeout           time.Duration
}

func newCertCommand() *cobra.Command {
	var f certFlags
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Get a workload certificate from the CA, as an Istio agent does",
		Long: `Make a key and CSR, call IstioCertificateService/CreateCertificate over TLS
(verifying the server against --root), authenticate with a bearer token or a
client certificate, check the returned chain, and write key.pem,
cert-chain.pem and root-cert.pem into --out (directory 0700, files 0600).

Against a local "bootgraph serve":
  bootgraph cert --token-file .bootgraph/tokens.csv --out ./certs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCert(cmd, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.addr, "addr", "127.0.0.1:15012", "address of the CA's secure gRPC listener")
	fs.StringVar(&f.root, "root", ".bootgraph/ca/root-cert.pem", "root certificate(s) to verify the server and the issued chain")
	fs.StringVar(&f.serverName, "server-name", "", "name expected in the server certificate (default: the host of --addr)")
	fs.StringVar(&f.token, "token", "", "bearer token")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token; for a token file in token,namespace,serviceaccount form the first entry's token is used")
	fs.StringVar(&f.clientCert, "client-cert", "", "client certificate chain for mTLS authentication")
	fs.StringVar(&f.clientKey, "client-key", "", "client key for mTLS authentication")
	fs.StringVar(&f.out, "out", "certs", "output directory")
	fs.StringVar(&f.keyType, "key-type", caclient.KeyECDSAP256, "key type: ecdsa-p256 or rsa-2048")
	fs.DurationVar(&f.ttl, "ttl", 0, "requested lifetime (0: the CA's default)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "deadline for the request")
	return cmd
}

func runCert(cmd *cobra.Command, f certFlags) error {
	if f.keyType != caclient.KeyECDSAP256 && f.keyType != caclient.KeyRSA2048 {
		return fmt.Errorf("--key-type %q: want %s or %s", f.keyType, caclient.KeyECDSAP256, caclient.KeyRSA2048)
	}
	cfg := caclient.Config{Addr: f.addr, ServerName: f.serverName, Token: f.token}
	var err error
	if cfg.RootsPEM, err = pemutil.ReadFile(f.root); err != nil {
		return fmt.Errorf("--root: %w", err)
	}
	if f.tokenFile != "" {
		if cfg.Token, err = readToken(f.tokenFile); err != nil {
			return err
		}
	}
	if (f.clientCert == "") != (f.clientKey == "") {
		return errors.New("--client-cert and --client-key go together")
	}
	if f.clientCert != "" {
		pair, err := loadKeyPair(f.clientCert, f.clientKey)
		if err != nil {
			return fmt.Errorf("--client-cert/--client-key: %w", err)
		}
		cfg.ClientCert = &pair
	}
	if cfg.Token == "" && cfg.ClientCert == nil {
		return errors.New("no credentials: give --token, --token-file, or --client-cert and --client-key")
	}
	client, err := caclient.Dial(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	res, err := client.Issue(ctx, f.keyType, f.ttl)
	if err != nil {
		return err
	}
	if err := writeResult(f.out, res); err != nil {
		return err
	}
	cmd.Printf("issued %s, valid until %s, written to %s\n", uriSANs(res), res.Leaf.NotAfter.Format(time.RFC3339), f.out)
	return nil
}

// loadKeyPair reads a certificate chain and its key, each a bounded read
// of a regular file (a FIFO or /dev/zero given by mistake is refused, not
// waited on).
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	chain, err := pemutil.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := pemutil.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(chain, key)
}

// readToken reads a bearer token file: a bare token, or a bootgraph token
// file whose first entry's token is used.
func readToken(path string) (string, error) {
	data, err := pemutil.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return strings.TrimSpace(strings.SplitN(line, ",", 2)[0]), nil
	}
	return "", fmt.Errorf("--token-file %s: no token in it", path)
}

func writeResult(dir string, res *caclient.Result) error {
	if err := pemutil.EnsureSecretDir(dir); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	for name, data := range map[string][]byte{
		"key.pem": res.KeyPEM, "cert-chain.pem": res.CertChainPEM, "root-cert.pem": res.RootPEM,
	} {
		if err := pemutil.WriteSecretFile(filepath.Join(dir, name), data); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	return nil
}

func uriSANs(res *caclient.Result) string {
	var ids []string
	for _, u := range res.Leaf.URIs {
		ids = append(ids, u.String())
	}
	return strings.Join(ids, ",")
}
