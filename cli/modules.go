package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
)

func newModulesCommand(parts []component.Part) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "modules [PART...]",
		Short: "List the parts a plane can have, with their options and defaults",
		Long: `List every part this binary knows (or only those named): what it is for,
whether it is on by default, the types it provides, its options with their
defaults, and the flags and environment variables that set them.

  bootgraph modules                 # a table per part
  bootgraph modules --format yaml   # the config reference: every field at its default
  bootgraph modules --format json   # for programs`,
		RunE: func(cmd *cobra.Command, args []string) error {
			selected, err := selectParts(parts, args)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch format {
			case "text":
				return writePartsText(w, selected)
			case "yaml":
				return config.WriteReference(w, selected...)
			case "json":
				return writePartsJSON(w, selected)
			}
			return fmt.Errorf("--format %q: want one of text, yaml, json", format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, yaml (the config reference) or json")
	return cmd
}

func selectParts(parts []component.Part, names []string) ([]component.Part, error) {
	if len(names) == 0 {
		return parts, nil
	}
	byName := map[string]component.Part{}
	var all []string
	for _, p := range parts {
		byName[p.Name()] = p
		all = append(all, p.Name())
	}
	var out []component.Part
	for _, n := range names {
		p, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("unknown part %q, want one of %s", n, strings.Join(all, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

func writePartsText(w io.Writer, parts []component.Part) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, p := range parts {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		call, pkg := p.GoModule()
		on := "always"
		if rule := p.DefaultOnDoc(); rule != "" {
			on = rule
		}
		fmt.Fprintf(tw, "%s\t%s\n", p.Name(), p.Doc())
		fmt.Fprintf(tw, "  on by default\t%s\n", on)
		fmt.Fprintf(tw, "  in Go\t%s (%s)\n", call, pkg)
		if provides := p.Provides(); len(provides) > 0 {
			names := make([]string, len(provides))
			for i, t := range provides {
				names[i] = t.String()
			}
			fmt.Fprintf(tw, "  provides\t%s\n", strings.Join(names, ", "))
		}
		for _, f := range p.Flags() {
			fmt.Fprintf(tw, "  flag --%s\tsets %s.%s\n", f.Name, p.Name(), f.Path)
		}
		for _, e := range p.EnvVars() {
			fmt.Fprintf(tw, "  env $%s\tsets %s.%s\n", e.Name, p.Name(), e.Path)
		}
		for _, o := range p.Options() {
			def := string(o.Default)
			var str string
			if json.Unmarshal(o.Default, &str) == nil {
				def = str
			}
			if def == "" {
				def = "-"
			}
			fmt.Fprintf(tw, "  %s.%s\t%s\t%s\t%s\n", p.Name(), o.Path, o.Type, def, o.Doc)
		}
	}
	return tw.Flush()
}

// partJSON is a part as `bootgraph modules --format json` writes it.
type partJSON struct {
	Name      string                `json:"name"`
	Doc       string                `json:"doc"`
	DefaultOn string                `json:"defaultOn"`
	GoModule  string                `json:"goModule"`
	Package   string                `json:"package"`
	Provides  []string              `json:"provides"`
	Flags     []component.FlagInfo  `json:"flags"`
	Env       []component.EnvVar    `json:"env"`
	Options   []component.OptionDoc `json:"options"`
}

func writePartsJSON(w io.Writer, parts []component.Part) error {
	out := make([]partJSON, 0, len(parts))
	for _, p := range parts {
		call, pkg := p.GoModule()
		pj := partJSON{Name: p.Name(), Doc: p.Doc(), DefaultOn: "always", GoModule: call, Package: pkg,
			Provides: []string{}, Flags: p.Flags(), Env: p.EnvVars(), Options: p.Options()}
		if rule := p.DefaultOnDoc(); rule != "" {
			pj.DefaultOn = rule
		}
		for _, t := range p.Provides() {
			pj.Provides = append(pj.Provides, t.String())
		}
		out = append(out, pj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
