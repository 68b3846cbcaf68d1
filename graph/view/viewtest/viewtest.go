// Package viewtest drives the graph page in a real, headless Chromium
// (Debian's package) with chromedp, for tests: open a page, evaluate
// script, wait for a condition, press keys, take screenshots as test
// artifacts, and collect the page's errors and network requests.
//
// Locations, overridable by the environment:
//
//	BOOTGRAPH_CHROMIUM   the browser, default /usr/bin/chromium
//	BOOTGRAPH_ARTIFACTS  where screenshots and figures go (see ArtifactDir)
//
// When Chromium is missing the test fails if $CI is set (CI installs it)
// and is skipped otherwise, naming the command that installs it.
package viewtest

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// InstallChromium says how to install the browser.
const InstallChromium = "scripts/install-test-tools.sh, or: apt-get update && apt-get install -y chromium"

// NeedFile returns path, or stops the test when it is missing: a failure
// under $CI, else a skip naming install.
func NeedFile(t testing.TB, path, what, install string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found at %s (%v); CI must install it: %s", what, path, err, install)
		}
		t.Skipf("%s not found at %s; install it with: %s", what, path, install)
	}
	return path
}

// ChromiumPath is $BOOTGRAPH_CHROMIUM or /usr/bin/chromium.
func ChromiumPath(t testing.TB) string {
	p := os.Getenv("BOOTGRAPH_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	return NeedFile(t, p, "Chromium", InstallChromium)
}

// Browser is a headless Chromium tab for one test, with the page's
// uncaught exceptions, console errors and network requests collected.
type Browser struct {
	T   testing.TB
	Ctx context.Context

	mu       sync.Mutex
	errs     []string
	requests []string
}

// Options size the window; zero is 1400×1000.
type Options struct {
	Width, Height int
}

// New starts Chromium for t; it stops when t ends. The deadline of 3
// minutes bounds the whole test, browser included.
func New(t testing.TB, o Options) *Browser {
	t.Helper()
	exec := ChromiumPath(t)
	if o.Width == 0 {
		o.Width, o.Height = 1400, 1000
	}
	profile := t.TempDir() // removed after the browser has stopped (cleanups run last-first)
	root, stop := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(stop)
	alloc, cancelAlloc := chromedp.NewExecAllocator(root,
		chromedp.ExecPath(exec),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(o.Width, o.Height),
		chromedp.UserDataDir(profile),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	b := &Browser{T: t, Ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				msg = "console.error:"
				for _, a := range ev.Args {
					msg += " " + string(a.Value) + a.Description
				}
			}
		case *network.EventRequestWillBeSent:
			b.mu.Lock()
			b.requests = append(b.requests, ev.Request.URL)
			b.mu.Unlock()
		}
		if msg != "" {
			b.mu.Lock()
			b.errs = append(b.errs, msg)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start chromium %s: %v", exec, err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(o.Width), int64(o.Height))); err != nil {
		t.Fatalf("start chromium %s: %v", exec, err)
	}
	return b
}

// Resize sets the viewport.
func (b *Browser) Resize(w, h int) {
	b.T.Helper()
	if err := chromedp.Do(b.Ctx, chromedp.EmulateViewport(int64(w), int64(h))); err != nil {
		b.T.Fatalf("viewport %dx%d: %v", w, h, err)
	}
}

// Open writes content to a file of the test's temp dir and loads it.
func (b *Browser) Open(name string, content []byte) string {
	b.T.Helper()
	path := filepath.Join(b.T.TempDir(), name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		b.T.Fatal(err)
	}
	u := url.URL{Scheme: "file", Path: path}
	b.Navigate(u.String())
	return u.String()
}

// Navigate loads u.
func (b *Browser) Navigate(u string) {
	b.T.Helper()
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(u)); err != nil {
		b.T.Fatalf("open %s: %v", u, err)
	}
}

// OpenPage loads a graph page and waits until its script has drawn it
// (data-bg-ready on <html>).
func (b *Browser) OpenPage(name string, content []byte) {
	b.T.Helper()
	b.Open(name, content)
	b.WaitReady()
}

// WaitReady waits for the graph page's first drawing.
func (b *Browser) WaitReady() {
	b.T.Helper()
	b.Wait(`document.documentElement.getAttribute('data-bg-ready') === 'true'`, time.Minute)
}

// Eval evaluates a JavaScript expression into a T, awaiting a promise.
func Eval[T any](b *Browser, expr string) T {
	b.T.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.T.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// Do runs a JavaScript statement.
func (b *Browser) Do(js string) {
	b.T.Helper()
	Eval[bool](b, "(() => { "+js+"; return true; })()")
}

// Wait waits until the JavaScript expression cond is true in the page
// (checked on every animation frame), or fails the test after timeout.
func (b *Browser) Wait(cond string, timeout time.Duration) {
	b.T.Helper()
	if _, err := chromedp.Run(b.Ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(timeout))); err != nil {
		b.T.Fatalf("waiting for %s: %v", cond, err)
	}
}

// Key sends a key press, as a user's keyboard would: "\t" is Tab, "\r"
// Enter.
func (b *Browser) Key(keys string) {
	b.T.Helper()
	if err := chromedp.Do(b.Ctx, chromedp.KeyEvent(keys)); err != nil {
		b.T.Fatalf("key %q: %v", keys, err)
	}
}

// Errors are the page's uncaught exceptions and console errors so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// NoErrors fails the test if the page threw or logged an error.
func (b *Browser) NoErrors() {
	b.T.Helper()
	for _, e := range b.Errors() {
		b.T.Errorf("page error: %s", e)
	}
}

// Requests are the URLs the page requested so far, the pages opened
// included.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}

// Screenshot saves what the viewport shows as a PNG artifact (see
// ArtifactDir) and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.T.Helper()
	png, err := chromedp.Run(b.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.T.Fatalf("screenshot: %v", err)
	}
	return WriteArtifact(b.T, name, png)
}

// ArtifactDir is where t's artifacts (screenshots, figures) go:
// $BOOTGRAPH_ARTIFACTS/<test name> when that is set; else, with go test's
// -artifacts flag, t.ArtifactDir() (under -outputdir); else
// $TMPDIR/bootgraph-artifacts/<test name>, kept after the test.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	var dir string
	switch {
	case os.Getenv("BOOTGRAPH_ARTIFACTS") != "":
		dir = filepath.Join(os.Getenv("BOOTGRAPH_ARTIFACTS"), name)
	case flagSet("test.artifacts"):
		if ad, ok := t.(interface{ ArtifactDir() string }); ok {
			return ad.ArtifactDir()
		}
		fallthrough
	default:
		dir = filepath.Join(os.TempDir(), "bootgraph-artifacts", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func flagSet(name string) bool {
	f := flag.Lookup(name)
	return f != nil && f.Value.String() == "true"
}

// WriteArtifact writes data as the artifact name of t and logs where.
func WriteArtifact(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(ArtifactDir(t), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifact: %s", path)
	return path
}

// Rect is an element's bounding box in CSS pixels.
type Rect struct {
	ID string  `json:"id"`
	X  float64 `json:"x"`
	Y  float64 `json:"y"`
	W  float64 `json:"w"`
	H  float64 `json:"h"`
}

// Inside reports whether r lies within a w×h viewport.
func (r Rect) Inside(w, h float64) bool {
	return r.X >= 0 && r.Y >= 0 && r.X+r.W <= w && r.Y+r.H <= h
}

func (r Rect) String() string {
	return fmt.Sprintf("%s [%.0f,%.0f %.0fx%.0f]", r.ID, r.X, r.Y, r.W, r.H)
}

// Rects are the bounding boxes of the elements selector matches, by id.
func Rects(b *Browser, selector string) []Rect {
	b.T.Helper()
	return Eval[[]Rect](b, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => { const r = e.getBoundingClientRect(); return {id: e.id, x: r.x, y: r.y, w: r.width, h: r.height}; })`, selector))
}

// stopID names the focused element for TabStops: the drawing's elements
// by id ("svg:node-n3"), a cluster's head and info button by module.
const stopID = `(a => {
	if (!a || a === document.body) return '<body>';
	return (a.closest('#bg-svg') ? 'svg:' : '') + (a.id ||
		(a.hasAttribute('data-collapse') ? 'head:' + a.getAttribute('data-collapse') : '') ||
		(a.hasAttribute('data-module-info') ? 'info:' + a.getAttribute('data-module-info') : '') ||
		(a.hasAttribute('data-crumb') ? 'crumb:' + a.getAttribute('data-crumb') : '') ||
		(a.classList.contains('bg-bar') ? 'bar:' + a.dataset.node + ':' + (a.dataset.hook || '') : '') ||
		a.tagName + ':' + a.textContent.slice(0, 20));
})`

// TabStops presses Tab from the top of the page until focus comes round
// again (at most max presses) and returns where it stopped.
func TabStops(b *Browser, max int) map[string]bool {
	b.T.Helper()
	b.Do(`document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)`)
	seen := map[string]bool{}
	var first string
	for range max {
		b.Key("\t")
		id := Eval[string](b, stopID+`(document.activeElement)`)
		if id == first {
			break
		}
		if first == "" {
			first = id
		}
		seen[id] = true
	}
	return seen
}

// Focusable are the drawing's elements that take focus, named as
// TabStops names them.
func Focusable(b *Browser) []string {
	b.T.Helper()
	return Eval[[]string](b, `[...document.querySelectorAll('#bg-svg [tabindex]')].map(`+stopID+`)`)
}

// FocusByTab presses Tab until the element selector finds has focus.
func FocusByTab(b *Browser, selector string, max int) {
	b.T.Helper()
	for range max {
		if Eval[bool](b, fmt.Sprintf(`document.activeElement === document.querySelector(%q)`, selector)) {
			return
		}
		b.Key("\t")
	}
	b.T.Fatalf("Tab never reaches %s", selector)
}
