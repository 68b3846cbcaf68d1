package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/graph/view"
)

// fetchTimeout bounds reading a graph from a URL.
const fetchTimeout = 30 * time.Second

// readGraph reads a graph saved as JSON (graph.JSON's schema) from a file,
// "-" (standard input) or an http(s) URL, e.g. a running plane's
// /debug/graph.json.
func readGraph(ctx context.Context, src string) (*graph.Graph, error) {
	data, err := readSource(ctx, src)
	if err != nil {
		return nil, err
	}
	g, err := graph.ReadJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return g, nil
}

func isURL(src string) bool {
	u, err := url.Parse(src)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func readSource(ctx context.Context, src string) ([]byte, error) {
	switch {
	case src == "-":
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("standard input: %w", err)
		}
		return data, nil
	case isURL(src):
		ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", src, err)
		}
		defer resp.Body.Close() //nolint:errcheck // read to the end, or given up
		data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", src, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("get %s: %s: %s", src, resp.Status, strings.TrimSpace(string(data[:min(len(data), 200)])))
		}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" {
			return nil, fmt.Errorf("get %s: that is an HTML page; a running plane serves its graph as JSON at /debug/graph.json", src)
		}
		return data, nil
	default:
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		return data, nil
	}
}

// isGraphJSON reports whether data is a JSON object with a "schema".
func isGraphJSON(data []byte) bool {
	var head struct {
		Schema *string `json:"schema"`
	}
	return json.Unmarshal(data, &head) == nil && head.Schema != nil
}

// loadPlane is the graph of src for why and diff: a graph saved as JSON
// (file, "-" or URL), a config file to plan, or "default", the embedded
// default config (when no file has that name).
func loadPlane(ctx context.Context, src string, parts []component.Part) (*graph.Graph, error) {
	var g *graph.Graph
	if src == "default" {
		if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
			cfg := config.New(parts...)
			if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
				return nil, err
			}
			p, err := cfg.Plan()
			if err != nil {
				return nil, err
			}
			return p.MarkInfra(), nil
		}
	}
	data, err := readSource(ctx, src)
	if err != nil {
		return nil, err
	}
	if isGraphJSON(data) || src == "-" || isURL(src) {
		if g, err = graph.ReadJSON(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		return g.MarkInfra(), nil
	}
	cfg, err := config.Load(src, parts...)
	if err != nil {
		return nil, err
	}
	if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
		return nil, err
	}
	if g, err = cfg.Plan(); err != nil {
		return nil, err
	}
	return g.MarkInfra(), nil
}

func newWhyCommand(parts []component.Part) *cobra.Command {
	var (
		format string
		from   string
	)
	cmd := &cobra.Command{
		Use:   "why A B",
		Short: "Say what makes A start before B, B before A, or that nothing orders them",
		Long: `Say which chain of dependencies makes A start before B (each needs the one
before it, so it is built, and its hooks started, after it), which makes B
start before A, or that nothing orders them. A and B are a node's name
(ca.provideCA), a module (ca: any of its functions), a type (*ca.CA: its
providers), or part of a name. The plane is the one the config flags choose,
or a graph saved as JSON (--from FILE|URL).

  bootgraph graph why ca webhook
  bootgraph graph why servingcert.provideIstiod ca.registerRun --from plane.json`,
		Args: cobra.ExactArgs(2),
	}
	flags := config.RegisterFlags(cmd.Flags(), parts...)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if format != "text" && format != "json" {
			return fmt.Errorf("--format %q: want text or json", format)
		}
		var g *graph.Graph
		var err error
		if from != "" {
			if err := fromOnly(cmd.Flags(), false); err != nil {
				return err
			}
			g, err = readGraph(cmd.Context(), from)
		} else {
			var cfg *config.Config
			if cfg, err = flags.Load(os.LookupEnv); err != nil {
				return err
			}
			g, err = cfg.Plan()
		}
		if err != nil {
			return err
		}
		w, err := g.MarkInfra().Why(args[0], args[1])
		if err != nil {
			return err
		}
		if format == "json" {
			return w.WriteJSON(cmd.OutOrStdout())
		}
		return w.WriteText(cmd.OutOrStdout())
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	cmd.Flags().StringVar(&from, "from", "", `a graph saved as JSON: a file, "-" or an http(s) URL such as a plane's /debug/graph.json`)
	return cmd
}

func newDiffCommand(parts []component.Part) *cobra.Command {
	var (
		format string
		out    string
	)
	cmd := &cobra.Command{
		Use:   "diff X Y",
		Short: "Say what differs between two planes: parts, functions, edges, start order",
		Long: `Say what differs from plane X to plane Y: the parts (modules), functions and
edges added or removed, the functions that moved in the build order (or to
another module) and the hooks added, removed or moved in the start order.
X and Y are config files (planned, nothing built), graphs saved as JSON
(files or URLs such as a plane's /debug/graph.json), or "default", the
embedded default config.

In text, "+" is only in Y, "-" only in X, "~" moved, "!" changed. As html,
the union of both graphs with what changed highlighted.

  bootgraph graph diff default plane.yaml
  bootgraph graph diff before.json after.json --format html -o diff.html`,
		Args: cobra.ExactArgs(2),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if format != "text" && format != "json" && format != "html" {
			return fmt.Errorf("--format %q: want text, json or html", format)
		}
		x, err := loadPlane(cmd.Context(), args[0], parts)
		if err != nil {
			return err
		}
		y, err := loadPlane(cmd.Context(), args[1], parts)
		if err != nil {
			return err
		}
		d, err := graph.Compare(x, y, args[0], args[1])
		if err != nil {
			return err
		}
		return writeOutput(cmd, out, func(w io.Writer) error {
			switch format {
			case "json":
				return d.WriteJSON(w)
			case "html":
				return view.DiffHTML(cmd.Context(), d, w)
			default:
				return d.WriteText(w)
			}
		})
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, json or html")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file (default: standard output)")
	return cmd
}
