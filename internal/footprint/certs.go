package footprint

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bootgraph/bootgraph/caclient"
)

// LocalClient dials the CA of a local plane at addr with the root and the
// first token its data directory holds (ca/root-cert.pem, tokens.csv).
func LocalClient(dataDir, addr string) (*caclient.Client, error) {
	root, err := os.ReadFile(filepath.Join(dataDir, "ca", "root-cert.pem"))
	if err != nil {
		return nil, err
	}
	tokens, err := os.ReadFile(filepath.Join(dataDir, "tokens.csv"))
	if err != nil {
		return nil, err
	}
	var token string
	for line := range strings.Lines(string(tokens)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			token, _, _ = strings.Cut(line, ",")
			break
		}
	}
	if token == "" {
		return nil, fmt.Errorf("%s: no token", filepath.Join(dataDir, "tokens.csv"))
	}
	return caclient.Dial(caclient.Config{Addr: addr, RootsPEM: root, Token: token})
}

// IssueCertificates gets n certificates for P-256 CSRs from the local
// plane's CA at addr over conns connections at once.
func IssueCertificates(ctx context.Context, dataDir, addr string, n, conns int) error {
	const csrs = 64
	pool := make([][]byte, csrs)
	for i := range pool {
		key, err := caclient.NewKey(caclient.KeyECDSAP256)
		if err != nil {
			return err
		}
		if pool[i], err = caclient.NewCSR(key); err != nil {
			return err
		}
	}
	var next atomic.Int64
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for range conns {
		c, err := LocalClient(dataDir, addr)
		if err != nil {
			return err
		}
		wg.Go(func() {
			defer func() { _ = c.Close() }()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, err := c.CreateCertificate(ctx, pool[i%csrs], 0); err != nil {
					errs <- fmt.Errorf("certificate %d of %d: %w", i, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
