package pemutil_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// readBound is how long a read may take before the test calls it hung.
const readBound = 20 * time.Second

// readWithin runs read(path) and fails the test if it does not return
// within readBound: a read that blocks on a FIFO must be caught, not hang
// the suite.
func readWithin(t *testing.T, read func(string) ([]byte, error), path string) ([]byte, error) {
	t.Helper()
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		d, err := read(path)
		done <- result{d, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-time.After(readBound):
		// Unblock the reader so the goroutine ends: open the FIFO for writing.
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
		t.Fatalf("reading %s did not return within %v", path, readBound)
		return nil, nil
	}
}

func TestReadFileRefusesWhatIsNotARegularFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	linkToFifo := filepath.Join(dir, "link-to-fifo")
	require.NoError(t, os.Symlink(fifo, linkToFifo))
	linkToZero := filepath.Join(dir, "zero.pem")
	require.NoError(t, os.Symlink("/dev/zero", linkToZero))
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })

	tests := []struct {
		name, path, want string
	}{
		{"named pipe", fifo, "a named pipe (FIFO)"},
		{"symlink to a named pipe", linkToFifo, "a named pipe (FIFO)"},
		{"/dev/zero", "/dev/zero", "a character device"},
		{"symlink to /dev/zero", linkToZero, "a character device"},
		{"/dev/null", "/dev/null", "a character device"},
		{"directory", dir, "a directory"},
		{"unix socket", sock, "a socket"},
	}
	for _, tt := range tests {
		for _, read := range []struct {
			name string
			fn   func(string) ([]byte, error)
		}{{"ReadFile", pemutil.ReadFile}, {"ReadPrivateFile", pemutil.ReadPrivateFile}} {
			t.Run(tt.name+"/"+read.name, func(t *testing.T) {
				_, err := readWithin(t, read.fn, tt.path)
				require.Error(t, err)
				assert.ErrorIs(t, err, pemutil.ErrNotRegular)
				assert.Contains(t, err.Error(), tt.path, "the error names the file")
				assert.Contains(t, err.Error(), tt.want)
			})
		}
	}
}

func TestReadFileSizeCap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, size int) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, make([]byte, size), 0o600))
		return p
	}
	atCap := write("at-cap", pemutil.MaxFileSize)
	data, err := pemutil.ReadFile(atCap)
	require.NoError(t, err)
	assert.Len(t, data, pemutil.MaxFileSize)

	over := write("over-cap", pemutil.MaxFileSize+1)
	_, err = pemutil.ReadFile(over)
	require.ErrorIs(t, err, pemutil.ErrTooLarge)
	assert.Contains(t, err.Error(), over)
	assert.Contains(t, err.Error(), "1048577 bytes, more than the 1 MiB limit")

	// A sparse 4 GiB file is refused from its size, without reading it.
	sparse := filepath.Join(dir, "sparse")
	f, err := os.Create(sparse)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(4<<30))
	require.NoError(t, f.Close())
	_, err = pemutil.ReadPrivateFile(sparse)
	require.ErrorIs(t, err, pemutil.ErrTooLarge)

	empty := write("empty", 0)
	data, err = pemutil.ReadFile(empty)
	require.NoError(t, err)
	assert.Empty(t, data)

	_, err = pemutil.ReadFile(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, fs.ErrNotExist, "a missing file stays recognizable")
	assert.Contains(t, err.Error(), filepath.Join(dir, "missing"))
}

func TestReadPrivateFileModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode    fs.FileMode
		other   bool // owned by another user (needs root to set up)
		wantErr string
	}{
		{mode: 0o600},
		{mode: 0o400},
		{mode: 0o700},
		{mode: 0o644, wantErr: "mode 0644, so others may access it"},
		{mode: 0o604, wantErr: "mode 0604, so others may access it"},
		{mode: 0o640, wantErr: "mode 0640, so its group may access it"},
		{mode: 0o660, wantErr: "mode 0660, so its group may access it"},
		{mode: 0o620, wantErr: "mode 0620, so its group may access it"},
		{mode: 0o666, wantErr: "mode 0666, so others may access it"},
		{mode: 0o602, wantErr: "mode 0602, so others may access it"},
		// A key given through a group by another owner (root, a Kubernetes
		// fsGroup): readable by the group, as PostgreSQL accepts.
		{mode: 0o640, other: true},
		{mode: 0o440, other: true},
		{mode: 0o660, other: true, wantErr: "mode 0660, so its group may access it"},
		{mode: 0o644, other: true, wantErr: "mode 0644, so others may access it"},
	}
	for _, tt := range tests {
		name := tt.mode.String()
		if tt.other {
			name += " owned by another user"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "key.pem")
			require.NoError(t, os.WriteFile(path, []byte("key"), 0o600))
			require.NoError(t, os.Chmod(path, tt.mode))
			if tt.other {
				if os.Geteuid() != 0 {
					t.Skip("needs root to give the file to another user")
				}
				require.NoError(t, os.Chown(path, 65534, 65534))
			}
			_, err := pemutil.ReadPrivateFile(path)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, pemutil.ErrLooseMode)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), "chmod 600 "+path, "the error says how to fix it")
			// ReadFile, for certificates, does not care.
			_, err = pemutil.ReadFile(path)
			require.NoError(t, err)
		})
	}
}

func TestCheckPrivateDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode        fs.FileMode
		allowSticky bool
		wantErr     bool
	}{
		{mode: 0o700},
		{mode: 0o750},
		{mode: 0o755},
		{mode: 0o777, wantErr: true},
		{mode: 0o770, wantErr: true},
		{mode: 0o702, wantErr: true},
		{mode: 0o777 | fs.ModeSticky, wantErr: true},
		{mode: 0o777 | fs.ModeSticky, allowSticky: true}, // a Kubernetes Secret volume
		{mode: 0o777, allowSticky: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "ca")
			require.NoError(t, os.Mkdir(dir, 0o700))
			require.NoError(t, os.Chmod(dir, tt.mode))
			err := pemutil.CheckPrivateDir(dir, tt.allowSticky)
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, pemutil.ErrLooseMode)
			assert.Contains(t, err.Error(), "directory "+dir)
			assert.Contains(t, err.Error(), "chmod 700 "+dir)
		})
	}
	require.NoError(t, pemutil.CheckPrivateDir(filepath.Join(t.TempDir(), "missing"), false), "a missing directory is created later")
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	err := pemutil.CheckPrivateDir(file, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), file+" is not a directory")
}

func TestCheckKeyStrength(t *testing.T) {
	t.Parallel()
	ec := func(c elliptic.Curve) any {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		require.NoError(t, err)
		return k.Public()
	}
	rsaOf := func(bits int) any {
		// Only the modulus' size matters here: no need to generate a key.
		n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
		return &rsa.PublicKey{N: n.Add(n, big.NewInt(1)), E: 65537}
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tests := []struct {
		name    string
		pub     any
		wantErr string
	}{
		{"RSA 512", rsaOf(512), "RSA 512 is too weak: RSA keys must have at least 2048 bits"},
		{"RSA 1024", rsaOf(1024), "RSA 1024 is too weak"},
		{"RSA 2047", rsaOf(2047), "RSA 2047 is too weak"},
		{"RSA 2048", rsaOf(2048), ""},
		{"RSA 4096", rsaOf(4096), ""},
		{"RSA 8192", rsaOf(8192), ""},
		{"RSA 16384", rsaOf(16384), "RSA 16384 is too large"},
		{"ECDSA P-224", ec(elliptic.P224()), "ECDSA curve P-224 is not supported"},
		{"ECDSA P-256", ec(elliptic.P256()), ""},
		{"ECDSA P-384", ec(elliptic.P384()), ""},
		{"ECDSA P-521", ec(elliptic.P521()), ""},
		{"Ed25519", edPub, ""},
		{"unknown type", struct{}{}, "key type struct {} is not supported"},
	}
	for _, tt := range tests {
		err := pemutil.CheckKeyStrength(tt.pub)
		if tt.wantErr == "" {
			assert.NoError(t, err, tt.name)
			continue
		}
		if assert.ErrorIs(t, err, pemutil.ErrWeakKey, tt.name) {
			assert.Contains(t, err.Error(), tt.wantErr, tt.name)
		}
	}
}

// WriteSecretFile leaves no temp file behind when it fails, and writes
// 0600 when it succeeds.
func TestWriteSecretFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	require.NoError(t, pemutil.WriteSecretFile(path, []byte("one")))
	require.NoError(t, pemutil.WriteSecretFile(path, []byte("two")))
	got, err := pemutil.ReadPrivateFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(got))

	// The rename fails: the target is a non-empty directory.
	blocked := filepath.Join(dir, "blocked.pem")
	require.NoError(t, os.MkdirAll(filepath.Join(blocked, "x"), 0o700))
	err = pemutil.WriteSecretFile(blocked, []byte("secret"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "write "+blocked)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"key.pem", "blocked.pem"}, names, "no temp file is left after a failed write")

	// A temp file a crash left is recognized and removed.
	stale := filepath.Join(dir, ".key.pem.tmp123456")
	require.NoError(t, os.WriteFile(stale, []byte("secret"), 0o600))
	other := filepath.Join(dir, ".other.tmp1")
	require.NoError(t, os.WriteFile(other, nil, 0o600))
	removed, err := pemutil.RemoveTemps(dir, "key.pem")
	require.NoError(t, err)
	assert.Equal(t, []string{".key.pem.tmp123456"}, removed)
	assert.NoFileExists(t, stale)
	assert.FileExists(t, other, "files of other names are not touched")
}

func TestReadFileErrorsKeepTheirCause(t *testing.T) {
	t.Parallel()
	// A file in a directory we cannot search: the cause is the OS error.
	if os.Geteuid() == 0 {
		t.Skip("root reads everything")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	require.NoError(t, os.Chmod(dir, 0))
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	_, err := pemutil.ReadFile(path)
	require.Error(t, err)
	assert.True(t, errors.Is(err, fs.ErrPermission), err.Error())
	assert.True(t, strings.Contains(err.Error(), path))
}
