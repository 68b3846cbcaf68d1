package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	pb "istio.io/api/security/v1alpha1"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

// newWithin runs ca.New and fails the test if it does not return within
// a bound: a CA file that is a FIFO must be refused, not hang the start.
func newWithin(t *testing.T, opts ca.Options) (*ca.CA, error) {
	t.Helper()
	type result struct {
		c   *ca.CA
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ca.New(opts, nil, nil)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-time.After(30 * time.Second):
		t.Fatal("ca.New did not return within 30s: a read blocked")
		return nil, nil
	}
}

var (
	weakKeyOnce sync.Once
	weakKey     *rsa.PrivateKey
)

// rsa1024 is a weak key, generated once.
func rsa1024(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	weakKeyOnce.Do(func() {
		var err error
		weakKey, err = rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			panic(err)
		}
	})
	return weakKey
}

func p224Key(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	return k
}

// selfSignedDir writes a self-signed root (key, cert, root-cert.pem) as a
// FileStore keeps it, but flat, as an operator or an older version would.
func selfSignedDir(t *testing.T, root *testCert) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	require.NoError(t, os.Mkdir(dir, 0o700))
	writeFile(t, dir, ca.CACertFile, root.certPEM())
	writeFile(t, dir, ca.CAKeyFile, root.keyPEM(t))
	writeFile(t, dir, ca.RootCertFile, root.certPEM())
	return dir
}

// The files the CA loads are bounded: a FIFO or a device is refused
// before it is opened, a file over 1 MiB is refused, and the error names
// the file.
func TestCAFilesAreReadBounded(t *testing.T) {
	t.Parallel()
	root := mkCert(t, certOpts{cn: "Root", isCA: true})
	pki := newPluggedPKI(t)
	tests := []struct {
		name    string
		plugged bool
		file    string
		make    func(t *testing.T, path string)
		want    string
	}{
		{"self-signed key is a FIFO", false, ca.CAKeyFile, mkfifo, "a named pipe (FIFO)"},
		{"self-signed cert is a FIFO", false, ca.CACertFile, mkfifo, "a named pipe (FIFO)"},
		{"self-signed root-cert.pem is a FIFO", false, ca.RootCertFile, mkfifo, "a named pipe (FIFO)"},
		{"self-signed cert is /dev/zero", false, ca.CACertFile, linkTo("/dev/zero"), "a character device"},
		{"self-signed key is /dev/zero", false, ca.CAKeyFile, linkTo("/dev/zero"), "a character device"},
		{"self-signed cert is 2 MiB", false, ca.CACertFile, bigFile(2 << 20), "more than the 1 MiB limit"},
		{"self-signed key is a directory", false, ca.CAKeyFile, mkdir, "a directory"},
		{"plugged-in key is a FIFO", true, ca.CAKeyFile, mkfifo, "a named pipe (FIFO)"},
		{"plugged-in chain is a FIFO", true, ca.CertChainFile, mkfifo, "a named pipe (FIFO)"},
		{"plugged-in root is /dev/zero", true, ca.RootCertFile, linkTo("/dev/zero"), "a character device"},
		{"plugged-in cert is /dev/urandom", true, ca.CACertFile, linkTo("/dev/urandom"), "a character device"},
		{"plugged-in chain is 1 MiB + 1", true, ca.CertChainFile, bigFile(1<<20 + 1), "1048577 bytes, more than the 1 MiB limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var dir string
			opts := ca.Options{}
			if tt.plugged {
				dir = pki.write(t)
				opts.PluggedCertsDir = dir
			} else {
				dir = selfSignedDir(t, root)
				opts.DataDir = dir
			}
			path := filepath.Join(dir, tt.file)
			require.NoError(t, os.Remove(path))
			tt.make(t, path)
			_, err := newWithin(t, opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), path, "the error names the file")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func mkfifo(t *testing.T, path string) { require.NoError(t, syscall.Mkfifo(path, 0o600)) }

func mkdir(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o700)) }

func linkTo(target string) func(*testing.T, string) {
	return func(t *testing.T, path string) { require.NoError(t, os.Symlink(target, path)) }
}

func bigFile(size int) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("A", size)), 0o600))
	}
}

// A self-signed CA directory whose files do not belong together is an
// error naming the files, not a CA whose clients all fail verification.
func TestSelfSignedFilesMustBeConsistent(t *testing.T) {
	t.Parallel()
	root := mkCert(t, certOpts{cn: "Root", isCA: true})
	other := mkCert(t, certOpts{cn: "Other Root", isCA: true})
	tests := []struct {
		name  string
		edit  func(t *testing.T, dir string)
		wants []string
	}{
		{"root-cert.pem is another certificate", func(t *testing.T, dir string) {
			writeFile(t, dir, ca.RootCertFile, other.certPEM())
		}, []string{"root-cert.pem differs from ca-cert.pem", "a self-signed root is its own root"}},
		{"root-cert.pem holds it and another", func(t *testing.T, dir string) {
			writeFile(t, dir, ca.RootCertFile, append(root.certPEM(), other.certPEM()...))
		}, []string{"root-cert.pem differs from ca-cert.pem"}},
		{"root-cert.pem is garbage", func(t *testing.T, dir string) {
			writeFile(t, dir, ca.RootCertFile, []byte("not a certificate"))
		}, []string{"root-cert.pem: no PEM CERTIFICATE block found"}},
		{"ca-cert.pem holds two certificates", func(t *testing.T, dir string) {
			writeFile(t, dir, ca.CACertFile, append(root.certPEM(), other.certPEM()...))
		}, []string{"ca-cert.pem holds 2 certificates; a self-signed root is one"}},
		{"ca-key.pem is another root's key", func(t *testing.T, dir string) {
			writeFile(t, dir, ca.CAKeyFile, other.keyPEM(t))
		}, []string{"ca-key.pem does not match ca-cert.pem"}},
		{"ca-cert.pem is not a CA", func(t *testing.T, dir string) {
			leaf := mkCert(t, certOpts{cn: "leaf", key: root.key})
			writeFile(t, dir, ca.CACertFile, leaf.certPEM())
			writeFile(t, dir, ca.RootCertFile, leaf.certPEM())
		}, []string{"ca-cert.pem: the signing certificate is not a CA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := selfSignedDir(t, root)
			tt.edit(t, dir)
			_, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "self-signed root in "+dir)
			for _, want := range tt.wants {
				assert.Contains(t, err.Error(), want)
			}
		})
	}

	// An empty or absent root-cert.pem is ca-cert.pem, as in istiod's Secret.
	for _, edit := range []func(dir string) error{
		func(dir string) error { return os.Remove(filepath.Join(dir, ca.RootCertFile)) },
		func(dir string) error { return os.WriteFile(filepath.Join(dir, ca.RootCertFile), nil, 0o600) },
	} {
		dir := selfSignedDir(t, root)
		require.NoError(t, edit(dir))
		c, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
		require.NoError(t, err)
		assert.Equal(t, root.certPEM(), c.RootPEM())
	}
}

// Weak or unsupported CA keys are refused, stored or plugged in, with the
// file and the key's size or curve.
func TestWeakCAKeysRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  crypto.Signer
		want string
	}{
		{"RSA 1024", rsa1024(t), "ca-key.pem: key not accepted: RSA 1024 is too weak: RSA keys must have at least 2048 bits"},
		{"ECDSA P-224", p224Key(t), "ca-key.pem: key not accepted: ECDSA curve P-224 is not supported"},
	}
	for _, tt := range tests {
		t.Run("self-signed "+tt.name, func(t *testing.T) {
			t.Parallel()
			dir := selfSignedDir(t, mkCert(t, certOpts{cn: "Weak Root", isCA: true, key: tt.key}))
			_, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
		t.Run("plugged-in "+tt.name, func(t *testing.T) {
			t.Parallel()
			root := mkCert(t, certOpts{cn: "Root", isCA: true})
			inter := mkCert(t, certOpts{cn: "Weak Intermediate", isCA: true, parent: root, key: tt.key})
			pki := &pluggedPKI{root: root, inter: inter}
			dir := pki.write(t)
			_, err := ca.New(ca.Options{PluggedCertsDir: dir}, nil, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "plugged-in CA in "+dir)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// A CSR for a weak key gets InvalidArgument naming the key's size; a CSR
// followed (or preceded) by anything else, or enormous, is refused too;
// and so is a request with enormous metadata.
func TestCreateCertificateRefusesBadCSRs(t *testing.T) {
	t.Parallel()
	c := defaultCA(t)
	addr := startServer(t, c, tokenAuth(t))
	client := dial(t, addr, c.RootPEM(), caclient.Config{Token: validToken})
	ctx := callCtx(t)
	good := csrPEM(t, ecKey(t), nil)
	tests := []struct {
		name string
		csr  []byte
		want string
	}{
		{"RSA 1024 key", csrPEM(t, rsa1024(t), nil), "the CSR's key: key not accepted: RSA 1024 is too weak"},
		{"ECDSA P-224 key", csrPEM(t, p224Key(t), nil), "ECDSA curve P-224 is not supported"},
		{"followed by junk", append(append([]byte{}, good...), "junk"...), "followed by 4 more bytes"},
		{"followed by a second CSR", append(append([]byte{}, good...), good...), "send one CERTIFICATE REQUEST block only"},
		{"followed by a certificate", append(append([]byte{}, good...), c.RootPEM()...), "followed by"},
		{"preceded by junk", append([]byte("junk\n"), good...), "the CSR has 5 bytes before its PEM block"},
		{"followed by 4 MiB - 64 KiB of junk", append(append([]byte{}, good...), make([]byte, 4<<20-64<<10)...), "more than the 32768 accepted"},
		{"33 KiB of whitespace", append(append([]byte{}, good...), []byte(strings.Repeat("\n", 33<<10))...), "more than the 32768 accepted"},
		{"PEM headers", []byte(strings.Replace(string(good), "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1)), "has headers"},
		{"empty", nil, "not a PEM CERTIFICATE REQUEST block"},
		{"a certificate", c.RootPEM(), "not a PEM CERTIFICATE REQUEST block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.CreateCertificate(ctx, tt.csr, time.Hour)
			require.Equalf(t, codes.InvalidArgument, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), tt.want)
		})
	}
	// Surrounding whitespace is fine.
	_, err := client.CreateCertificate(ctx, []byte("\n\n"+string(good)+"\n\n"), time.Hour)
	require.NoError(t, err)

	// Metadata the CA never reads is bounded too.
	conn, cc := rawClient(t, addr, c)
	t.Cleanup(func() { _ = cc.Close() })
	big, err := structpb.NewStruct(map[string]any{"junk": strings.Repeat("x", 100<<10)})
	require.NoError(t, err)
	_, err = conn.CreateCertificate(tokenCtx(ctx), &pb.IstioCertificateRequest{Csr: string(good), ValidityDuration: 3600, Metadata: big})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "metadata is 1024")
	small, err := structpb.NewStruct(map[string]any{"ImpersonatedIdentity": "x"})
	require.NoError(t, err)
	_, err = conn.CreateCertificate(tokenCtx(ctx), &pb.IstioCertificateRequest{Csr: string(good), ValidityDuration: 3600, Metadata: small})
	require.Equal(t, codes.Unauthenticated, status.Code(err), "impersonation without a trusted node account: %v", err)
}

// Loose modes are refused, never fixed: a CA key or token file that group
// or others may read, a CA directory they may write. A Kubernetes Secret
// volume (a sticky directory) is accepted for a plugged-in CA.
func TestLooseModesRefused(t *testing.T) {
	t.Parallel()
	root := mkCert(t, certOpts{cn: "Root", isCA: true})
	pki := newPluggedPKI(t)
	tests := []struct {
		name    string
		plugged bool
		file    string // "" the directory
		mode    fs.FileMode
		want    string
	}{
		{"self-signed key 0644", false, ca.CAKeyFile, 0o644, "has mode 0644, so others may access it"},
		{"self-signed key 0640", false, ca.CAKeyFile, 0o640, "has mode 0640, so its group may access it"},
		{"self-signed key 0666", false, ca.CAKeyFile, 0o666, "has mode 0666"},
		{"self-signed directory 0777", false, "", 0o777, "has mode 0777, so group or others may replace the keys in it"},
		{"self-signed directory 0775", false, "", 0o775, "has mode 0775"},
		{"self-signed directory 1777", false, "", 0o777 | fs.ModeSticky, "has mode 0777"},
		{"plugged-in key 0644", true, ca.CAKeyFile, 0o644, "has mode 0644"},
		{"plugged-in key 0604", true, ca.CAKeyFile, 0o604, "has mode 0604"},
		{"plugged-in directory 0777", true, "", 0o777, "has mode 0777"},
		{"plugged-in directory 0757", true, "", 0o757, "has mode 0757"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var dir string
			opts := ca.Options{}
			if tt.plugged {
				dir = pki.write(t)
				opts.PluggedCertsDir = dir
			} else {
				dir = selfSignedDir(t, root)
				opts.DataDir = dir
			}
			path := filepath.Join(dir, tt.file)
			require.NoError(t, os.Chmod(path, tt.mode))
			_, err := ca.New(opts, nil, nil)
			require.Error(t, err)
			assert.ErrorIs(t, err, pemutil.ErrLooseMode)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), tt.want)
			st, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, tt.mode, st.Mode()&(fs.ModePerm|fs.ModeSticky), "the mode is left as it was")
		})
	}

	// Certificates may be world-readable; a directory others may read but
	// not write is fine; a Secret volume's sticky 1777 is fine when
	// plugged in.
	dir := selfSignedDir(t, root)
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.Chmod(filepath.Join(dir, ca.CACertFile), 0o644))
	require.NoError(t, os.Chmod(filepath.Join(dir, ca.RootCertFile), 0o644))
	_, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
	require.NoError(t, err)
	plugged := pki.write(t)
	require.NoError(t, os.Chmod(plugged, 0o777|fs.ModeSticky))
	_, err = ca.New(ca.Options{PluggedCertsDir: plugged}, nil, nil)
	require.NoError(t, err)
}

// The token file is checked as a key is: bounded, regular, private.
func TestTokenFileReadBoundedAndPrivate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		want string
	}{
		{"FIFO", mkfifo, "a named pipe (FIFO)"},
		{"/dev/zero", linkTo("/dev/zero"), "a character device"},
		{"2 MiB", bigFile(2 << 20), "more than the 1 MiB limit"},
		{"mode 0644", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte(validToken+",team-a,builder\n"), 0o600))
			require.NoError(t, os.Chmod(path, 0o644))
		}, "has mode 0644, so others may access it"},
		{"mode 0640", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte(validToken+",team-a,builder\n"), 0o600))
			require.NoError(t, os.Chmod(path, 0o640))
		}, "has mode 0640, so its group may access it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "tokens.csv")
			tt.make(t, path)
			done := make(chan error, 1)
			go func() {
				_, err := ca.NewTokenFileAuthenticator(path, "cluster.local")
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("reading the token file blocked")
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "token file: ")
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// Token file contents: unique tokens, Kubernetes names, line numbers.
func TestTokenFileContents(t *testing.T) {
	t.Parallel()
	const tokA, tokB = "token-aaaaaaaaaaaaaaaa", "token-bbbbbbbbbbbbbbbb"
	long := strings.Repeat("a", 64)
	tests := []struct {
		name, content, want string
	}{
		{"same token for two identities", tokA + ",ns-a,sa-a\n# x\n" + tokA + ",ns-b,sa-b\n",
			"line 3: the token of line 1 again (line 1: spiffe://cluster.local/ns/ns-a/sa/sa-a, line 3: spiffe://cluster.local/ns/ns-b/sa/sa-b)"},
		{"same line twice", tokA + ",ns-a,sa-a\n" + tokA + ",ns-a,sa-a\n", "line 2: the token of line 1 again"},
		{"namespace with /", tokA + ",a/sa/admin/ns/x,b\n", `line 1: namespace "a/sa/admin/ns/x" is not a Kubernetes namespace name`},
		{"namespace with a space", tokA + ",Kube System,admin\n", `line 1: namespace "Kube System"`},
		{"namespace upper case", tokA + ",Default,default\n", `namespace "Default"`},
		{"namespace with a dot", tokA + ",a.b,default\n", `namespace "a.b"`},
		{"namespace of 64 characters", tokA + "," + long + ",default\n", "must be no more than 63 characters"},
		{"namespace starting with -", tokA + ",-ns,default\n", `namespace "-ns"`},
		{"service account with a space", tokA + ",default,ad min\n", `line 1: serviceaccount "ad min" is not a Kubernetes service account name`},
		{"service account with /", tokA + ",default,a/b\n", `serviceaccount "a/b"`},
		{"service account upper case", tokA + ",default,Admin\n", `serviceaccount "Admin"`},
		{"service account with %20", tokA + ",default,ad%20min\n", `serviceaccount "ad%20min"`},
		{"service account with unicode", tokA + ",default,adm\u0131n\n", `serviceaccount "admın"`},
		{"token with a space", "token-aaaa bbbbbbbbbbbb,default,default\n", "line 1: token has a byte 0x20 at 11"},
		{"token with unicode", "token-ааааааааааааааа,default,default\n", "token has a byte 0xd0"},
		{"token with a tab", "token-aaaa\tbbbbbbbbbbbb,default,default\n", "token has a byte 0x09"},
		{"four fields", tokA + ",default,default,extra\n", "got 4 fields"},
		{"line over 4096 bytes", tokB + ",default,default\n" + strings.Repeat("x", 5000) + "\n", "line 2: bufio.Scanner: token too long (a line may have at most 4096 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeTokenFile(t, tt.content)
			_, err := ca.NewTokenFileAuthenticator(path, "cluster.local")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "token file "+path)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), tokA, "an error never shows a token")
		})
	}

	// A byte order mark and CRLF line ends, from a Windows editor, are fine;
	// so are the longest names Kubernetes allows.
	sa := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63)
	path := writeTokenFile(t, "\ufeff"+tokA+",default,default\r\n"+tokB+","+long[:63]+","+sa+"\r\n")
	a, err := ca.NewTokenFileAuthenticator(path, "cluster.local")
	require.NoError(t, err)
	caller, err := a.Authenticate(bearerCtx("Bearer " + tokA))
	require.NoError(t, err)
	assert.Equal(t, []string{"spiffe://cluster.local/ns/default/sa/default"}, caller.Identities)
	caller, err = a.Authenticate(bearerCtx("Bearer " + tokB))
	require.NoError(t, err)
	assert.Equal(t, []string{ca.SpiffeID("cluster.local", long[:63], sa)}, caller.Identities)
}

// Temp files that a crash left in the CA's directory (the old writer's
// .ca-key.pem.tmp*, a generation never swapped in) are removed at start.
func TestStaleTempFilesRemovedAtStart(t *testing.T) {
	t.Parallel()
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("root exists %v", existing), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "ca")
			require.NoError(t, os.Mkdir(dir, 0o700))
			if existing {
				_, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
				require.NoError(t, err)
			}
			for _, name := range []string{".ca-key.pem.tmp3141592", ".ca-cert.pem.tmp27", ".root-cert.pem.tmp1"} {
				writeFile(t, dir, name, []byte("-----BEGIN PRIVATE KEY-----\nleft by a crash\n"))
			}
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "..2020_01_01_00_00_00.42"), 0o700))
			writeFile(t, filepath.Join(dir, "..2020_01_01_00_00_00.42"), ca.CAKeyFile, []byte("half a generation"))
			_, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
			require.NoError(t, err)
			assertGeneration(t, dir, ca.CACertFile, ca.CAKeyFile, ca.RootCertFile)
		})
	}
	// The token file's directory too, without touching anything else there.
	dir := t.TempDir()
	writeFile(t, dir, ".tokens.csv.tmp99", []byte("secret-token-from-a-crash,default,default\n"))
	writeFile(t, dir, "notes.txt", nil)
	created, err := ca.EnsureTokenFile(filepath.Join(dir, "tokens.csv"))
	require.NoError(t, err)
	assert.True(t, created)
	assert.NoFileExists(t, filepath.Join(dir, ".tokens.csv.tmp99"))
	assert.FileExists(t, filepath.Join(dir, "notes.txt"))
}

func tokenCtx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+validToken)
}
