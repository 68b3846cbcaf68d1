package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/graph/view"
)

// renderers by --format.
var renderers = map[string]func(ctx context.Context, g *graph.Graph, w io.Writer) error{
	"dot":     func(_ context.Context, g *graph.Graph, w io.Writer) error { return graph.DOT(g, w) },
	"mermaid": func(_ context.Context, g *graph.Graph, w io.Writer) error { return graph.Mermaid(g, w) },
	"json":    func(_ context.Context, g *graph.Graph, w io.Writer) error { return graph.JSON(g, w) },
	"svg":     view.SVG,
	"html":    view.HTML,
}

const formats = "dot, mermaid, json, svg, html"

// graphFlags are the flags that draw rather than choose a plane.
var graphFlags = map[string]bool{"format": true, "output": true, "run": true, "from": true, "infra": true}

func newGraphCommand(parts []component.Part) *cobra.Command {
	var (
		format string
		out    string
		run    bool
		from   string
		infra  bool
	)
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Draw the plane a config would build: modules, constructors, groups, hooks, start order",
		Long: `Draw the dependency graph of the plane a config would build, with the start
order predicted from the graph alone — without generating keys or binding
ports. With --run the plane is started and stopped, and the drawing carries
the real timing of each constructor and hook. With --from it draws a graph
saved as JSON (a file, "-" for standard input, or the /debug/graph.json URL
of a running plane): any plane, a custom one built in Go included
(Plane.Graph() or bootgraph.Plan, then graph.JSON).

A composition with a missing part is drawn too (the missing node and what
needs it, marked); the problems are also printed and the exit code is 1.

  bootgraph graph --format html -o plane.html
  bootgraph graph --format mermaid --disable ca     # draws the missing CA
  bootgraph graph --from plane.json --format svg -o plane.svg
  bootgraph graph --from http://127.0.0.1:15014/debug/graph.json --format html -o live.html
  bootgraph graph why ca webhook                    # what orders them
  bootgraph graph diff plane.yaml other.yaml        # what a change of config changes`,
		Args: cobra.NoArgs,
	}
	flags := config.RegisterFlags(cmd.Flags(), parts...)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		render, ok := renderers[format]
		if !ok {
			return fmt.Errorf("--format %q: want one of %s", format, formats)
		}
		var (
			g      *graph.Graph
			cfg    *config.Config
			runErr error
			err    error
		)
		if from != "" {
			if err := fromOnly(cmd.Flags(), run); err != nil {
				return err
			}
			if g, err = readGraph(cmd.Context(), from); err != nil {
				return err
			}
		} else {
			if cfg, err = flags.Load(os.LookupEnv); err != nil {
				return err
			}
			g, runErr = drawPlane(cmd.Context(), cfg, run)
			if g == nil {
				return runErr
			}
		}
		g.MarkInfra()
		drawn := g
		if !infra {
			drawn = g.WithoutInfra()
		}
		// A failed start is drawn too: what started, what failed.
		if err := writeOutput(cmd, out, func(w io.Writer) error { return render(cmd.Context(), drawn, w) }); err != nil {
			return err
		}
		return errors.Join(runErr, problems(g, cfg))
	}
	cmd.Flags().StringVar(&format, "format", "dot", "output format: "+formats)
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file (default: standard output)")
	cmd.Flags().BoolVar(&run, "run", false, "start and stop the plane, and draw it with the timings of that run")
	cmd.Flags().StringVar(&from, "from", "", `draw a graph saved as JSON: a file, "-" (standard input) or an http(s) URL such as a plane's /debug/graph.json`)
	cmd.Flags().BoolVar(&infra, "infra", true, "draw the infrastructure (logger, lifecycle, registries, the engine's own supplies); --infra=false leaves it out (the HTML page hides it behind a switch anyway)")
	cmd.AddCommand(newWhyCommand(parts), newDiffCommand(parts))
	return cmd
}

// fromOnly rejects the flags that choose a plane next to --from.
func fromOnly(fs *pflag.FlagSet, run bool) error {
	if run {
		return errors.New("--from draws a saved graph: --run does not apply")
	}
	var set []string
	fs.Visit(func(f *pflag.Flag) {
		if !graphFlags[f.Name] {
			set = append(set, "--"+f.Name)
		}
	})
	if len(set) > 0 {
		return fmt.Errorf("--from draws a saved graph: %s choose a plane to build and do not apply", strings.Join(set, ", "))
	}
	return nil
}

// drawPlane plans cfg's plane or, with run, builds, starts and stops it. It
// returns the graph even when the start failed, with that error.
func drawPlane(ctx context.Context, cfg *config.Config, run bool) (*graph.Graph, error) {
	if !run {
		return cfg.Plan()
	}
	p, err := cfg.Build()
	if err != nil {
		// A composition error: draw what is wrong instead.
		var ce *bootgraph.CompositionError
		if errors.As(err, &ce) {
			if g, planErr := cfg.Plan(); planErr == nil && len(g.Problems) > 0 {
				return g, nil
			}
		}
		return nil, err
	}
	runErr := p.Start(ctx)
	if runErr == nil {
		runErr = p.Stop(ctx)
	}
	g, err := p.Graph()
	if err != nil {
		return nil, err
	}
	return g, runErr
}

func writeOutput(cmd *cobra.Command, path string, write func(io.Writer) error) error {
	if path == "" {
		return write(cmd.OutOrStdout())
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if err := write(f); err != nil {
		return errors.Join(err, f.Close())
	}
	return f.Close()
}

// problems returns the graph's problems in words, or nil: the engine's
// explanation (which part provides what is missing, who needs it) when it
// has one (cfg, the config the graph was planned from, may be nil), else
// the planner's own words.
func problems(g *graph.Graph, cfg *config.Config) error {
	if len(g.Problems) == 0 {
		return nil
	}
	var msgs []string
	if cfg != nil {
		if err := cfg.Check(); err != nil {
			msgs = append(msgs, strings.Split(err.Error(), "\n")...)
		}
	}
	explained := len(msgs) > 0
	for _, p := range g.Problems {
		if p.Kind != graph.ProblemMissing && p.Kind != graph.ProblemCycle || !explained {
			msgs = append(msgs, p.Message)
		}
	}
	return fmt.Errorf("the composition has %d problem(s):\n  %s", len(g.Problems), strings.Join(msgs, "\n  "))
}
