package servingcert

import (
	"fmt"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// Export file names, as istiod wrote them to ./var/run/secrets/istio-dns.
const (
	ExportKeyFile   = "key.pem"
	ExportChainFile = "cert-chain.pem"
	ExportRootFile  = "root-cert.pem"
)

// Export writes the bundle's key, chain and roots into dir (0700, files
// 0600), all three from one generation of the bundle, as Kubernetes writes
// a Secret volume: into a new directory, fsynced, made current by renaming
// a "..data" symlink over the old one, with key.pem, cert-chain.pem and
// root-cert.pem symlinks through ..data. The previous generation, and
// whatever a crash left, is removed.
//
// A reader that resolves ..data once and reads the files from there (as
// ReadExport does) always gets a key and a chain that match, even while
// Export runs or after a crash in the middle of one; opening dir/key.pem
// and then dir/cert-chain.pem may straddle a swap.
func Export(b *Bundle, dir string) error {
	m := b.state.Load()
	if m == nil {
		return fmt.Errorf("export serving certificate to %s: %w", dir, errNoCertificate)
	}
	err := pemutil.WriteGeneration(dir, []pemutil.File{
		{Name: ExportChainFile, Data: m.certChainPEM}, {Name: ExportRootFile, Data: m.rootsPEM}, {Name: ExportKeyFile, Data: m.keyPEM},
	})
	if err != nil {
		return fmt.Errorf("export serving certificate to %s: %w", dir, err)
	}
	return nil
}

// ReadExport reads what Export wrote into dir, all three files of one
// generation, with pemutil's bounds; the key must be private to its owner.
func ReadExport(dir string) (certChainPEM, keyPEM, rootsPEM []byte, err error) {
	data, err := pemutil.ReadGeneration(dir,
		pemutil.Spec{Name: ExportChainFile}, pemutil.Spec{Name: ExportKeyFile, Private: true}, pemutil.Spec{Name: ExportRootFile})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read exported serving certificate in %s: %w", dir, err)
	}
	for _, name := range []string{ExportChainFile, ExportKeyFile} {
		if _, ok := data[name]; !ok {
			return nil, nil, nil, fmt.Errorf("read exported serving certificate in %s: %s is missing", dir, name)
		}
	}
	return data[ExportChainFile], data[ExportKeyFile], data[ExportRootFile], nil
}
