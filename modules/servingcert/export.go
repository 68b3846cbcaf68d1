package servingcert

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

// Export writes the bundle's key, chain and roots into dir (0700, files 0600),
// all three from one generation of the bundle.
func Export(b *Bundle, dir string) error {
	m := b.state.Load()
	if m == nil {
		return fmt.Errorf("export serving certificate to %s: %w", dir, errNoCertificate)
	}
	if err := pemutil.EnsureSecretDir(dir); err != nil {
		return fmt.Errorf("export serving certificate to %s: %w", dir, err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{ExportChainFile, m.certChainPEM}, {ExportRootFile, m.rootsPEM}, {ExportKeyFile, m.keyPEM}} {
		if err := pemutil.WriteSecretFile(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("export serving certificate to %s: %w", dir, err)
		}
	}
	return nil
}
