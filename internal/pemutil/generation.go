package pemutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// A directory written by WriteGeneration has the layout Kubernetes gives a
// Secret volume (its AtomicWriter):
//
//	dir/..2026_01_02_15_04_05.123456789/  one generation: key.pem, cert-chain.pem, ...
//	dir/..data -> ..2026_01_02_15_04_05.123456789
//	dir/key.pem -> ..data/key.pem
//	dir/cert-chain.pem -> ..data/cert-chain.pem
//
// A new generation is written into a new directory and made current by
// renaming a symlink over ..data, which is atomic: a reader that resolves
// ..data once (ReadGeneration does) gets every file of one generation, and
// a crash at any point leaves the old generation or the new one, never a
// mix. Names starting with ".." are the writer's own.
const (
	// DataLink names the current generation.
	DataLink = "..data"
	// dataLinkTmp is the link being swapped in.
	dataLinkTmp = "..data_tmp"
	// generationLayout is the prefix of a generation directory's name.
	generationLayout = "..2006_01_02_15_04_05."
)

// File is one file of a generation.
type File struct {
	Name string
	Data []byte
}

// StepHook, when set, is called before each step of WriteGeneration with
// the step's name ("write key.pem", "sync", "link", "swap", "publish
// key.pem", "clean"). The crash tests set it to stop a process at a chosen
// step and kill it there.
var StepHook func(step string)

func step(name string) {
	if StepHook != nil {
		StepHook(name)
	}
}

// generationMu serializes the generation writers of this process.
var generationMu sync.Mutex

// WriteGeneration writes files into dir (created 0700) as one generation,
// each 0600, fsynced with their directories before the swap, and removes
// the previous generation and any debris of an interrupted write. Until
// the swap, an error leaves dir as it was; after it, the new generation
// is current even if an error is returned (a missing top-level link is
// made again by the next WriteGeneration or RepairLinks).
func WriteGeneration(dir string, files []File) error {
	for _, f := range files {
		if err := checkName(f.Name); err != nil {
			return err
		}
	}
	generationMu.Lock()
	defer generationMu.Unlock()
	if err := EnsureSecretDir(dir); err != nil {
		return err
	}
	gen, err := writeGenerationDir(dir, files)
	if err != nil {
		return err
	}
	step("link")
	tmp := filepath.Join(dir, dataLinkTmp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return abandon(gen, fmt.Errorf("write %s: %w", dir, err))
	}
	if err := os.Symlink(filepath.Base(gen), tmp); err != nil {
		return abandon(gen, fmt.Errorf("write %s: %w", dir, err))
	}
	step("swap")
	if err := os.Rename(tmp, filepath.Join(dir, DataLink)); err != nil {
		_ = os.Remove(tmp)
		return abandon(gen, fmt.Errorf("write %s: %w", dir, err))
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	if err := publish(dir, names); err != nil {
		return err
	}
	step("clean")
	_, err = RemoveStale(dir, names...)
	return errors.Join(err, pruneLinks(dir, names))
}

// pruneLinks removes the top-level links of files that an earlier
// generation had and this one has not (they would dangle).
func pruneLinks(dir string, names []string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	var errs []error
	for _, e := range entries {
		n := e.Name()
		if keep[n] || e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		if target, err := os.Readlink(filepath.Join(dir, n)); err != nil || target != filepath.Join(DataLink, n) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeGenerationDir writes files into a new generation directory of dir
// and syncs them; on error it leaves nothing behind.
func writeGenerationDir(dir string, files []File) (string, error) {
	gen, err := os.MkdirTemp(dir, time.Now().UTC().Format(generationLayout))
	if err != nil {
		return "", fmt.Errorf("write %s: %w", dir, err)
	}
	for _, f := range files {
		step("write " + f.Name)
		if err := writeSynced(filepath.Join(gen, f.Name), f.Data); err != nil {
			return "", abandon(gen, err)
		}
	}
	step("sync")
	if err := syncDir(gen); err != nil {
		return "", abandon(gen, err)
	}
	return gen, nil
}

// abandon removes a generation that was not made current, and returns err.
func abandon(gen string, err error) error {
	if rmErr := os.RemoveAll(gen); rmErr != nil {
		return errors.Join(err, rmErr)
	}
	return err
}

// writeSynced creates path 0600 (it must not exist) and fsyncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, SecretFileMode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// publish makes each dir/name a symlink to ..data/name. The links never
// change once made; a regular file of an older layout is replaced by one
// with a rename.
func publish(dir string, names []string) error {
	changed := false
	for _, name := range names {
		path := filepath.Join(dir, name)
		want := filepath.Join(DataLink, name)
		if got, err := os.Readlink(path); err == nil && got == want {
			continue
		}
		step("publish " + name)
		tmp := filepath.Join(dir, "."+name+".link-tmp")
		_ = os.Remove(tmp)
		if err := os.Symlink(want, tmp); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("write %s: %w", path, err)
		}
		changed = true
	}
	if changed {
		return syncDir(dir)
	}
	return nil
}

// RepairLinks makes the top-level links of names that a write interrupted
// after its swap did not make, when dir has a current generation holding
// them. It reports whether it made any.
func RepairLinks(dir string, names ...string) (bool, error) {
	target, err := currentGeneration(dir)
	if err != nil || target == "" {
		return false, err
	}
	var missing []string
	for _, name := range names {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, target, name)); err == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	generationMu.Lock()
	defer generationMu.Unlock()
	return true, publish(dir, missing)
}

// RemoveStale removes what an interrupted write left in dir: generation
// directories that ..data does not name, a ..data_tmp link, and the temp
// files of WriteSecretFile and publish for names. It returns what it
// removed. Nothing else in dir is touched.
func RemoveStale(dir string, names ...string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	current, err := currentGeneration(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		n := e.Name()
		if n == DataLink || n == current || !isDebris(n, e, names) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, n)
	}
	return removed, errors.Join(errs...)
}

// isDebris reports whether entry n of a generation directory was left by
// an interrupted write.
func isDebris(n string, e fs.DirEntry, names []string) bool {
	return n == dataLinkTmp || strings.HasPrefix(n, "..") && e.IsDir() || isTemp(n, names)
}

// isTemp reports whether n is a temp file of WriteSecretFile or publish
// for one of names.
func isTemp(n string, names []string) bool {
	for _, name := range names {
		if strings.HasPrefix(n, "."+name+".tmp") || n == "."+name+".link-tmp" {
			return true
		}
	}
	return false
}

// RemoveTemps removes the temp files that WriteSecretFile left in dir for
// names when a crash stopped it (".<name>.tmp*"), and returns their names.
// Unlike RemoveStale it touches nothing else, so it is safe in a directory
// that is not the writer's own.
func RemoveTemps(dir string, names ...string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !isTemp(e.Name(), names) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// currentGeneration returns the directory ..data names, or "" without one.
// A ..data that points anywhere but to a generation in dir is an error.
func currentGeneration(dir string) (string, error) {
	target, err := os.Readlink(filepath.Join(dir, DataLink))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(target, "..") || strings.ContainsRune(target, filepath.Separator) || target == ".." {
		return "", fmt.Errorf("%s points to %q, not to a generation directory beside it", filepath.Join(dir, DataLink), target)
	}
	return target, nil
}

// Spec names a file for ReadGeneration; Private files are read with
// ReadPrivateFile.
type Spec struct {
	Name    string
	Private bool
}

// ReadGeneration reads files of dir that belong to one generation: with a
// ..data link, from the generation it names, resolved once (and again if
// it is replaced while being read); without one (files written by hand),
// from dir itself. A missing file is absent from the result; any other
// error fails the read. Every file is read with ReadFile's bounds.
func ReadGeneration(dir string, specs ...Spec) (map[string][]byte, error) {
	out, _, err := ReadGenerationVersion(dir, specs...)
	return out, err
}

// ReadGenerationVersion is ReadGeneration that also returns the version
// read: the name of the generation directory ..data named ("" for files
// written by hand). Every WriteGeneration makes a new one, so a writer
// that holds LockDir can tell whether dir changed since it read it.
func ReadGenerationVersion(dir string, specs ...Spec) (map[string][]byte, string, error) {
	for attempt := 0; ; attempt++ {
		target, err := currentGeneration(dir)
		if err != nil {
			return nil, "", err
		}
		out, err := readSet(filepath.Join(dir, target), specs)
		if err != nil {
			return nil, "", err
		}
		again, err := currentGeneration(dir)
		if err != nil {
			return nil, "", err
		}
		if again == target || attempt == 10 {
			return out, target, nil // one generation, or a writer faster than us: the last read set
		}
	}
}

// GenerationVersion returns the version ReadGenerationVersion would
// return now, without reading the files.
func GenerationVersion(dir string) (string, error) { return currentGeneration(dir) }

func readSet(dir string, specs []Spec) (map[string][]byte, error) {
	out := make(map[string][]byte, len(specs))
	for _, s := range specs {
		read := ReadFile
		if s.Private {
			read = ReadPrivateFile
		}
		data, err := read(filepath.Join(dir, s.Name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			out[s.Name] = data
		}
	}
	return out, nil
}

// checkName refuses a file name that is not a plain name of a generation.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "..") || strings.ContainsRune(name, filepath.Separator) {
		return fmt.Errorf("pemutil: %q cannot be a file of a generation", name)
	}
	return nil
}

// syncDir fsyncs a directory, so that the names created or renamed in it
// survive a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
