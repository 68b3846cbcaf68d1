package main_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of `bootgraph graph --from`, `graph why` and `graph diff`. The
// goldens are the graph package's (graph/testdata), run through the binary
// on the same fixtures.

// runIn runs the binary in dir with stdin, and returns its standard
// output and standard error apart.
func runIn(t *testing.T, dir, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = localEnv()
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// fixtures copies graph/testdata/<name>.json.golden files to a temporary
// directory as <name>.json and returns it.
func fixtures(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join("..", "..", "graph", "testdata", name+".json.golden"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), data, 0o600))
	}
	return dir
}

func golden(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "graph", "testdata", name))
	require.NoError(t, err, "run `go test ./graph -update` to create it")
	return string(data)
}

// has checks that s contains want, without printing all of s.
func has(t *testing.T, s, want string) {
	t.Helper()
	if !strings.Contains(s, want) {
		t.Errorf("%q not in the output (%d bytes): %.300s", want, len(s), s)
	}
}

// A graph saved as JSON — by `graph --format json` here, by a Go program
// (Plane.Graph) anywhere — is drawn in every format, from a file or
// standard input; the flags that choose a plane do not apply to it.
func TestGraphFrom(t *testing.T) {
	dir := t.TempDir()
	_, stderr, err := runIn(t, dir, "", "graph", "--format", "json", "-o", "plane.json", "--data-dir", filepath.Join(dir, "state"))
	require.NoError(t, err, stderr)
	for format, want := range map[string]string{"dot": "digraph", "mermaid": "flowchart LR", "json": `"infra": true`, "svg": "<svg", "html": `id="bg-data"`} {
		out, stderr, err := runIn(t, dir, "", "graph", "--from", "plane.json", "--format", format)
		require.NoError(t, err, stderr)
		has(t, out, want)
		has(t, out, "ca.provideCA")
	}
	saved, err := os.ReadFile(filepath.Join(dir, "plane.json"))
	require.NoError(t, err)
	out, stderr, err := runIn(t, dir, string(saved), "graph", "--from", "-", "--format", "dot", "--infra=false")
	require.NoError(t, err, stderr)
	has(t, out, "servingcert.provideIstiod")
	for _, infra := range []string{"Supply(*zap.Logger)", `label="*zap.Logger"`, `label="fx.Lifecycle"`, "hookTracker"} {
		assert.False(t, strings.Contains(out, infra), "--infra=false draws %s", infra)
	}

	_, stderr, err = runIn(t, dir, "", "graph", "--from", "plane.json", "--disable", "dns")
	require.Error(t, err)
	assert.Contains(t, stderr, "--from draws a saved graph: --disable choose a plane to build")
	_, stderr, err = runIn(t, dir, `{"schema":"bootgraph.dev/graph/v9"}`, "graph", "--from", "-")
	require.Error(t, err)
	assert.Contains(t, stderr, `unsupported graph schema "bootgraph.dev/graph/v9"`)

	// A saved graph with a problem is drawn, and the problem said.
	fx := fixtures(t, "missing")
	out, stderr, err = runIn(t, fx, "", "graph", "--from", "missing.json", "--format", "mermaid")
	require.Error(t, err)
	has(t, out, "flowchart LR")
	assert.Contains(t, stderr, "missing type: *dns.Resolver")
}

// --from takes the /debug/graph.json URL of a running plane; the HTML
// page's URL is refused with a hint.
func TestGraphFromURL(t *testing.T) {
	s := startServe(t)
	url := "http://" + s.monitoring + "/debug/graph"
	out, stderr, err := runIn(t, t.TempDir(), "", "graph", "--from", url+".json", "--format", "mermaid")
	require.NoError(t, err, stderr)
	has(t, out, "flowchart LR")
	has(t, out, "ran ") // the live graph carries the run's timings
	_, stderr, err = runIn(t, t.TempDir(), "", "graph", "--from", url)
	require.Error(t, err)
	assert.Contains(t, stderr, "that is an HTML page; a running plane serves its graph as JSON at /debug/graph.json")

	out, stderr, err = runIn(t, t.TempDir(), "", "graph", "why", "servingcert.provideIstiod", "monitoring", "--from", url+".json")
	require.NoError(t, err, stderr)
	assert.Contains(t, out, "servingcert.provideIstiod starts before module monitoring")

	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, stderr, err = runIn(t, t.TempDir(), "", "graph", "--from", srv.URL+"/debug/graph.json")
	require.Error(t, err)
	assert.Contains(t, stderr, "404 Not Found")
}

// `graph why` says what orders two parts, as the golden files say, from a
// saved graph or the plane the flags choose.
func TestGraphWhy(t *testing.T) {
	dir := fixtures(t, "plane")
	out, stderr, err := runIn(t, dir, "", "graph", "why", "ca", "grpc", "--from", "plane.json")
	require.NoError(t, err, stderr)
	assert.Equal(t, golden(t, "why-modules.txt.golden"), out)
	out, stderr, err = runIn(t, dir, "", "graph", "why", "ca", "grpc", "--from", "plane.json", "--format", "json")
	require.NoError(t, err, stderr)
	assert.Equal(t, golden(t, "why-modules.json.golden"), out)
	out, stderr, err = runIn(t, dir, "", "graph", "why", "health.provide", "dnscert.provideIstiod", "--from", "plane.json")
	require.NoError(t, err, stderr)
	assert.Equal(t, golden(t, "why-unordered.txt.golden"), out)

	// The default plane: the CA's key before the webhook listener, through
	// the serving bundle; the webhook listener before the CA's Run.
	out, stderr, err = runIn(t, t.TempDir(), "", "graph", "why", "ca", "webhook")
	require.NoError(t, err, stderr)
	for _, want := range []string{
		"module ca starts before module webhook",
		"ca.provideCA", "provides *ca.CA to", "servingcert.provideIstiod", "provides *servingcert.Bundle to", "webhook.provideServer",
		"module webhook starts before module ca", "ca.registerRun",
	} {
		assert.Contains(t, out, want)
	}

	_, stderr, err = runIn(t, dir, "", "graph", "why", "nope", "ca", "--from", "plane.json")
	require.Error(t, err)
	assert.Contains(t, stderr, `nothing in the graph is called "nope"`)
	_, stderr, err = runIn(t, dir, "", "graph", "why", "ca")
	require.Error(t, err)
	assert.Contains(t, stderr, "accepts 2 arg(s)")
}

// `graph diff` says what differs between two saved graphs as the golden
// files say, draws it as a page, and compares config files.
func TestGraphDiff(t *testing.T) {
	dir := fixtures(t, "plane", "plane-v2")
	out, stderr, err := runIn(t, dir, "", "graph", "diff", "plane.json", "plane-v2.json")
	require.NoError(t, err, stderr)
	assert.Equal(t, golden(t, "diff.txt.golden"), out)
	out, stderr, err = runIn(t, dir, "", "graph", "diff", "plane.json", "plane-v2.json", "--format", "json")
	require.NoError(t, err, stderr)
	assert.Equal(t, golden(t, "diff.json.golden"), out)
	_, stderr, err = runIn(t, dir, "", "graph", "diff", "plane.json", "plane-v2.json", "--format", "html", "-o", "diff.html")
	require.NoError(t, err, stderr)
	page, err := os.ReadFile(filepath.Join(dir, "diff.html"))
	require.NoError(t, err)
	has(t, string(page), `"diff":{"marks":`)
	has(t, string(page), `id="bg-diff-text"`)

	// Two configs: the default, and one without the DNS listener.
	cfg := filepath.Join(dir, "nodns.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("dns:\n  enabled: false\n"), 0o600))
	out, stderr, err = runIn(t, dir, "", "graph", "diff", "default", "nodns.yaml")
	require.NoError(t, err, stderr)
	for _, want := range []string{"--- default\n+++ nodns.yaml\n", "parts:\n  - dns\n", "  - dns.provideServer ", "start order (OnStart hooks):\n  - dns.provideServer: was #"} {
		assert.Contains(t, out, want)
	}
	out, stderr, err = runIn(t, dir, "", "graph", "diff", "default", "default")
	require.NoError(t, err, stderr)
	assert.Contains(t, out, "no difference")

	_, stderr, err = runIn(t, dir, "", "graph", "diff", "plane.json", "nope.yaml")
	require.Error(t, err)
	assert.Contains(t, stderr, "nope.yaml")
}
