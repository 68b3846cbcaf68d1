package dnscert

import (
	"fmt"
	"path/filepath"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// Export file names, as istiod wrote them to ./var/run/secrets/istio-dns.
const (
	ExportKeyFile   = "key.pem"
	ExportChainFile = "cert-chain.pem"
	ExportRootFile  = "root-cert.pem"
)

// Export writes the bundle's key, chain and roots into dir (0700, files 0600).
func Export(b *Bundle, dir string) error {
	if err := pemutil.EnsureSecretDir(dir); err != nil {
		return fmt.Errorf("servingCert.exportDir: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{ExportChainFile, b.CertChainPEM()}, {ExportRootFile, b.RootsPEM()}, {ExportKeyFile, b.KeyPEM()}} {
		if err := pemutil.WriteSecretFile(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("servingCert.exportDir: %w", err)
		}
	}
	return nil
}
