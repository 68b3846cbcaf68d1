package pemutil_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// gen is generation n of two files that must always be read together:
// a.pem and b.pem both say n.
func gen(n int) []pemutil.File {
	v := []byte("generation " + strconv.Itoa(n) + "\n")
	return []pemutil.File{{Name: "a.pem", Data: v}, {Name: "b.pem", Data: v}}
}

var genSpecs = []pemutil.Spec{{Name: "a.pem"}, {Name: "b.pem", Private: true}}

// readGen reads a.pem and b.pem as one generation and returns n, or 0
// when there is none; it fails the test on a mixed pair.
func readGen(t *testing.T, dir string) int {
	t.Helper()
	n, err := readGenErr(dir)
	require.NoError(t, err)
	return n
}

func readGenErr(dir string) (int, error) {
	got, err := pemutil.ReadGeneration(dir, genSpecs...)
	if err != nil {
		return 0, err
	}
	if len(got) == 0 {
		return 0, nil
	}
	if len(got) != 2 {
		return 0, fmt.Errorf("a generation has both files, got %d", len(got))
	}
	if a, b := string(got["a.pem"]), string(got["b.pem"]); a != b {
		return 0, fmt.Errorf("a.pem (%q) and b.pem (%q) are of different generations", a, b)
	}
	return strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(got["a.pem"]), "generation ")))
}

// layout lists dir: names, with "/" after directories and "@" after links.
func layout(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		n := e.Name()
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			n += "@"
		case e.IsDir():
			n = "gen/" // generation names are timestamps
		}
		out = append(out, n)
	}
	return out
}

func TestWriteGeneration(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	require.NoError(t, pemutil.WriteGeneration(dir, gen(1)))
	assert.Equal(t, 1, readGen(t, dir))
	assert.ElementsMatch(t, []string{"..data@", "gen/", "a.pem@", "b.pem@"}, layout(t, dir))
	data, err := pemutil.ReadPrivateFile(filepath.Join(dir, "b.pem"))
	require.NoError(t, err, "the names read as ordinary files through their links")
	assert.Equal(t, "generation 1\n", string(data))

	require.NoError(t, pemutil.WriteGeneration(dir, gen(2)))
	assert.Equal(t, 2, readGen(t, dir))
	assert.ElementsMatch(t, []string{"..data@", "gen/", "a.pem@", "b.pem@"}, layout(t, dir), "the old generation is removed")

	// Bad names are refused before anything is written.
	for _, bad := range []string{"", "..data", "../x", "a/b", "..2020"} {
		err := pemutil.WriteGeneration(dir, []pemutil.File{{Name: bad}})
		require.Error(t, err, "%q", bad)
		assert.Contains(t, err.Error(), "cannot be a file of a generation")
	}
	assert.Equal(t, 2, readGen(t, dir))
}

// A directory of the older layout (regular files) takes the new one; a
// hand-made directory (no ..data) is read as it is.
func TestWriteGenerationOverRegularFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.pem"), []byte("generation 7\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.pem"), []byte("generation 7\n"), 0o600))
	assert.Equal(t, 7, readGen(t, dir), "without ..data the files are read from dir")
	require.NoError(t, pemutil.WriteGeneration(dir, gen(8)))
	assert.Equal(t, 8, readGen(t, dir))
	assert.ElementsMatch(t, []string{"..data@", "gen/", "a.pem@", "b.pem@"}, layout(t, dir))
}

// What an interrupted write leaves is removed; nothing else is.
func TestRemoveStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, pemutil.WriteGeneration(dir, gen(1)))
	plant := func(name string, isDir bool) {
		p := filepath.Join(dir, name)
		if isDir {
			require.NoError(t, os.MkdirAll(filepath.Join(p, "sub"), 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(p, "a.pem"), []byte("secret"), 0o600))
			return
		}
		require.NoError(t, os.WriteFile(p, []byte("secret"), 0o600))
	}
	plant("..2020_01_01_00_00_00.1", true)
	plant(".a.pem.tmp99", false)
	plant(".b.pem.link-tmp", false)
	require.NoError(t, os.Symlink("..2020_01_01_00_00_00.1", filepath.Join(dir, "..data_tmp")))
	plant("notes.txt", false)
	plant(".c.pem.tmp1", false)
	plant("subdir", true)

	removed, err := pemutil.RemoveStale(dir, "a.pem", "b.pem")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"..2020_01_01_00_00_00.1", ".a.pem.tmp99", ".b.pem.link-tmp", "..data_tmp"}, removed)
	assert.ElementsMatch(t, []string{"..data@", "gen/", "a.pem@", "b.pem@", "notes.txt", ".c.pem.tmp1", "gen/"}, layout(t, dir))
	assert.Equal(t, 1, readGen(t, dir))
}

// A ..data link that leaves the directory is refused: a reader must not be
// sent elsewhere.
func TestReadGenerationRefusesForeignDataLink(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"/etc", "../other", "..", "..x/y"} {
		dir := t.TempDir()
		require.NoError(t, os.Symlink(target, filepath.Join(dir, pemutil.DataLink)))
		_, err := pemutil.ReadGeneration(dir, genSpecs...)
		require.Error(t, err, target)
		assert.Contains(t, err.Error(), "not to a generation directory beside it")
	}
}

// A reader looping over the directory while it is rewritten never sees
// a.pem of one generation with b.pem of another.
func TestReadGenerationWhileWriting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var (
		wg     sync.WaitGroup
		done   atomic.Bool
		reads  atomic.Int64
		newest atomic.Int64
	)
	require.NoError(t, pemutil.WriteGeneration(dir, gen(1)))
	newest.Store(1)
	const writes = 200
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			before := newest.Load()
			n, err := readGenErr(dir)
			if err != nil {
				t.Error(err)
				return
			}
			if int64(n) < before {
				t.Errorf("read generation %d after %d was written", n, before)
			}
			reads.Add(1)
		}
	}()
	for i := 2; i <= writes; i++ {
		require.NoError(t, pemutil.WriteGeneration(dir, gen(i)))
		newest.Store(int64(i))
	}
	done.Store(true)
	wg.Wait()
	assert.Equal(t, writes, readGen(t, dir))
	t.Logf("%d reads during %d writes", reads.Load(), writes)
}

// The crash test: a child process (this test binary) writes a generation
// and stops at one step, where it is killed with SIGKILL. Whatever the
// step, a reader then sees the previous generation or the new one, whole,
// and the next write (or RemoveStale and RepairLinks at the next start)
// leaves a clean directory.
func TestWriteGenerationSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	first := []string{"write a.pem", "write b.pem", "sync", "link", "swap", "publish a.pem", "publish b.pem", "clean"}
	later := []string{"write a.pem", "write b.pem", "sync", "link", "swap", "clean"}
	for _, tc := range []struct {
		name     string
		previous int // the generation in place before the write (0: none)
		steps    []string
	}{{"first write", 0, first}, {"second write", 1, later}} {
		for i, st := range tc.steps {
			t.Run(tc.name+"/killed before "+st, func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(t.TempDir(), "out")
				if tc.previous > 0 {
					require.NoError(t, pemutil.WriteGeneration(dir, gen(tc.previous)))
				}
				killAt(t, dir, st, 2)

				want := tc.previous
				if i > indexOf(tc.steps, "swap") {
					want = 2
				}
				assert.Equal(t, want, readGen(t, dir), "after a kill before %q", st)

				// The next start tidies up, and the next write is clean.
				_, err := pemutil.RemoveStale(dir, "a.pem", "b.pem")
				require.NoError(t, err)
				_, err = pemutil.RepairLinks(dir, "a.pem", "b.pem")
				require.NoError(t, err)
				if want > 0 {
					assert.ElementsMatch(t, []string{"..data@", "gen/", "a.pem@", "b.pem@"}, layout(t, dir))
					data, err := pemutil.ReadFile(filepath.Join(dir, "a.pem"))
					require.NoError(t, err)
					assert.Equal(t, fmt.Sprintf("generation %d\n", want), string(data))
				} else {
					assert.Empty(t, layout(t, dir), "nothing of the unfinished first write is left")
				}
				require.NoError(t, pemutil.WriteGeneration(dir, gen(3)))
				assert.Equal(t, 3, readGen(t, dir))
				assert.ElementsMatch(t, []string{"..data@", "gen/", "a.pem@", "b.pem@"}, layout(t, dir))
			})
		}
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// killAt runs TestGenerationCrashHelper in a child process writing
// generation n into dir, waits until it reports that it stopped before
// step, and kills it with SIGKILL.
func killAt(t *testing.T, dir, step string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound for failure only
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestGenerationCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PEMUTIL_CRASH_DIR="+dir, "PEMUTIL_CRASH_AT="+step, "PEMUTIL_CRASH_GEN="+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	stopped := false
	for sc.Scan() {
		if sc.Text() == "stopped before "+step {
			stopped = true
			break
		}
	}
	require.True(t, stopped, "the child never reached step %q", step)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
}

// TestGenerationCrashHelper is the child process of the crash tests.
func TestGenerationCrashHelper(t *testing.T) {
	dir := os.Getenv("PEMUTIL_CRASH_DIR")
	if dir == "" {
		t.Skip("the child process of TestWriteGenerationSurvivesSIGKILL")
	}
	at := os.Getenv("PEMUTIL_CRASH_AT")
	n, _ := strconv.Atoi(os.Getenv("PEMUTIL_CRASH_GEN"))
	pemutil.StepHook = func(step string) {
		if step == at {
			fmt.Println("stopped before " + step)
			time.Sleep(time.Hour) // until killed
		}
	}
	_ = pemutil.WriteGeneration(dir, gen(n))
	fmt.Println("finished without reaching the step")
}
