package pemutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxFileSize bounds every file the plane reads: PEM certificates, keys and
// bundles, and token files. 1 MiB is also the largest Secret Kubernetes
// stores, so anything an operator can plug in through a Secret fits; a
// file that is larger is a mistake (or /dev/zero), not a CA.
const MaxFileSize = 1 << 20

// ReadFile reads the regular file path, of at most MaxFileSize bytes. A
// named pipe, device, socket or directory is refused before it is opened,
// so that reading never blocks (a FIFO) or never ends (/dev/zero); a file
// swapped for one of those between the check and the open is opened
// without blocking and refused too. Errors name path.
func ReadFile(path string) ([]byte, error) { return readFile(path, false) }

// ReadPrivateFile is ReadFile for a private key or a token file: it also
// refuses a file that someone other than its owner may read or write (see
// CheckPrivateMode), as ssh refuses such a private key.
func ReadPrivateFile(path string) ([]byte, error) { return readFile(path, true) }

func readFile(path string, private bool) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		// Reported as os.ReadFile would: "open <path>: <cause>", keeping
		// fs.ErrNotExist and fs.ErrPermission recognizable.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = "open"
		}
		return nil, err
	}
	if err := checkReadable(path, fi, private); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	// What was opened may not be what was checked: check it again.
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := checkReadable(path, fi, private); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("read %s: %w: it grew past %s while being read", path, ErrTooLarge, sizeString(MaxFileSize))
	}
	return data, nil
}

// ErrTooLarge is wrapped by the error for a file larger than MaxFileSize.
var ErrTooLarge = errors.New("file too large")

// ErrNotRegular is wrapped by the error for a path that is not a regular
// file (a FIFO, a device, a socket, a directory).
var ErrNotRegular = errors.New("not a regular file")

// ErrLooseMode is wrapped by the error for a private file or directory
// whose permissions let others read or replace it.
var ErrLooseMode = errors.New("permissions too open")

func checkReadable(path string, fi fs.FileInfo, private bool) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("read %s: %w: it is %s", path, ErrNotRegular, kindOf(fi.Mode()))
	}
	if fi.Size() > MaxFileSize {
		return fmt.Errorf("read %s: %w: %d bytes, more than the %s limit", path, ErrTooLarge, fi.Size(), sizeString(MaxFileSize))
	}
	if private {
		return CheckPrivateMode(path, fi)
	}
	return nil
}

// kindOf names a file type for an error message.
func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	default:
		return "not a regular file (" + m.Type().String() + ")"
	}
}

func sizeString(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// CheckPrivateMode refuses a private key or token file that someone other
// than its owner may read or write. The rule is PostgreSQL's for its
// server key, which is ssh's with one allowance:
//
//   - others may have no access at all, and the group may not write;
//   - the group may read only a file that another user owns (typically
//     root): that is how an administrator gives a service a key, with
//     Debian's ssl-cert group or a Kubernetes fsGroup (a Secret volume
//     with defaultMode 0440). A file the plane's own user owns must be 0600.
//
// Loose modes are refused, never fixed: a key that others could read may
// already be copied, and only its operator can decide to rotate it (or
// chmod it, if they know it was not read). Nor can the plane chmod a
// read-only mount. The error names the file, its mode and the fix.
func CheckPrivateMode(path string, fi fs.FileInfo) error {
	perm := fi.Mode().Perm()
	groupRead := perm&0o040 != 0 && fileOwner(fi) != os.Geteuid()
	switch {
	case perm&0o077 == 0, perm&0o077 == 0o040 && groupRead:
		return nil
	}
	who := "others"
	if perm&0o007 == 0 {
		who = "its group"
	}
	return fmt.Errorf("%s has mode %04o, so %s may access it: %w for a private key or token; "+
		"run chmod 600 %s (for a Kubernetes Secret volume: defaultMode 0400, or 0440 with the pod's fsGroup)",
		path, perm, who, ErrLooseMode, path)
}

// CheckPrivateDir refuses a directory of keys that group or others may
// write: they could replace a key or a certificate, or plant a missing
// one. With allowSticky, a sticky directory (mode 1777, as Kubernetes
// mounts a Secret volume) is accepted, since nobody can replace a file
// that is not theirs in it. A missing directory is not an error here.
func CheckPrivateDir(dir string, allowSticky bool) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory: it is %s", dir, kindOf(fi.Mode()))
	}
	perm := fi.Mode().Perm()
	if perm&0o022 == 0 || allowSticky && fi.Mode()&fs.ModeSticky != 0 {
		return nil
	}
	return fmt.Errorf("directory %s has mode %04o, so group or others may replace the keys in it: %w; run chmod 700 %s",
		dir, perm, ErrLooseMode, dir)
}

// fileOwner returns the uid of fi's owner, or -1 when unknown.
func fileOwner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
