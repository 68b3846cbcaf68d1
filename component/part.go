package component

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.uber.org/fx"
)

// Part describes one module of a control plane to the config layer, the
// CLI and the engine: what Define makes of a Definition. The config layer
// decodes and validates the part's section of a config file through it,
// the CLI generates --enable/--disable, its flags and `bootgraph modules`
// from it, and the engine names it in a hint when a composition lacks a
// type it provides.
type Part interface {
	// Name is the part's config section, its --enable/--disable name and
	// its fx.Module name, e.g. "ca" or "servingCert".
	Name() string
	// Doc says in one line what the part is for.
	Doc() string
	// DefaultOnDoc says when the part is on by default; "" means always.
	DefaultOnDoc() string
	// Provides lists the types the part provides to other parts.
	Provides() []reflect.Type
	// Hints are alternatives to say when a type the part needs is missing.
	Hints() []Hint
	// Flags are the command-line flags that set the part's options.
	Flags() []FlagInfo
	// EnvVars are the environment variables that set its options.
	EnvVars() []EnvVar
	// GoModule names the Go call that adds the part: "ca.Module", and the
	// package it lives in.
	GoModule() (call, importPath string)
	// Options documents every option with its default.
	Options() []OptionDoc
	// NewSection returns the part's options with nothing set, to be
	// decoded from a config file and set by flags.
	NewSection() Section
}

// Section is one part's options while a configuration is put together:
// decoded from a config file, changed by environment variables and flags,
// checked, and turned into the part's fx module.
type Section interface {
	// Part is the part the section configures.
	Part() Part
	// Options returns a pointer to the options struct.
	Options() any
	// Decode reads the section strictly from a document decoded from JSON
	// or YAML; errors are *FieldErrors relative to the section.
	Decode(doc any) error
	// Set sets the option at path from text, as an environment variable
	// gives it.
	Set(path, value string) error
	// SetFlag applies the part's flag name with value.
	SetFlag(name, value string) error
	// DefaultOn reports whether the part is on when nothing says, given
	// the options as set so far and the process environment.
	DefaultOn(lookupEnv func(string) (string, bool)) bool
	// Validate sets the defaults on a copy of the options and checks them;
	// errors are *FieldErrors relative to the section.
	Validate() error
	// Module is the part's fx module for the options, defaults set. Call
	// Validate first.
	Module() fx.Option
}

// Options is what a part's options type implements, on its pointer.
type Options interface {
	// SetDefaults fills every empty field with its default.
	SetDefaults()
	// Validate reports every invalid field as a *FieldError whose path is
	// relative to the options ("keyType", not "ca.keyType").
	Validate() error
}

// Definition is what a part's package says of it; Define makes it a Part.
type Definition[O any] struct {
	// Name: see Part.Name. Lower camel case: a letter, then letters and
	// digits.
	Name string
	// Doc: see Part.Doc.
	Doc string
	// DefaultOn decides whether the part is on when the config says
	// nothing, from its options as set so far and the environment; nil
	// means always on. DefaultOnDoc says the rule in words.
	DefaultOn    func(o *O, lookupEnv func(string) (string, bool)) bool
	DefaultOnDoc string
	// Provides lists the types the part provides, for hints.
	Provides []reflect.Type
	// Hints: see Part.Hints.
	Hints []Hint
	// Flags set options from the command line.
	Flags []Flag[O]
	// Env sets options from environment variables.
	Env []EnvVar
	// Build returns the part's fx options for valid options with their
	// defaults set. Define wraps them in fx.Module(Name, ...) and supplies
	// the options to the module (privately), so constructors can take O.
	Build func(O) []fx.Option
}

// Flag is a command-line flag that sets one option.
type Flag[O any] struct {
	// Name without dashes, e.g. "grpc-addr" or istiod's "tlsCertFile".
	Name string
	// Path of the option it sets, as in the part's section: "addr".
	Path string
	// Usage says what the flag is for; the CLI adds the config path and
	// the default.
	Usage string
	// Then, when set, also runs when the flag is given, for flags that
	// imply another option (istiod's --tlsCertFile selects the files
	// provider).
	Then func(*O)
}

// FlagInfo is a flag as the CLI registers it.
type FlagInfo struct {
	Name, Path, Usage string
	// Kind of the option: reflect.Bool makes a flag without a value,
	// reflect.Slice one that takes a comma-separated list.
	Kind reflect.Kind
}

// EnvVar is an environment variable that sets one option.
type EnvVar struct {
	// Name, e.g. "PILOT_CERT_PROVIDER".
	Name string
	// Path of the option it sets.
	Path string
	// Fallback: the variable applies only when the option is still empty
	// after the config file (as $KUBECONFIG does); otherwise it overrides
	// the file.
	Fallback bool
}

// Hint is an alternative to offer when a type a part needs is missing:
// the files provider instead of the CA, say. Go is said to a Go program's
// author, Config to a config file's.
type Hint struct {
	Type       reflect.Type
	Go, Config string
}

var partNameRE = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// Define makes a Part of d. It panics on a definition that cannot work (a
// bad name, no Build, a flag or variable that names no option), as
// regexp.MustCompile does: a part is defined once, at package level.
func Define[O any, P interface {
	*O
	Options
}](d Definition[O]) *Def[O, P] {
	if !partNameRE.MatchString(d.Name) {
		panic(fmt.Sprintf("component.Define: part name %q: want lower camel case, e.g. \"servingCert\"", d.Name))
	}
	if d.Build == nil {
		panic(fmt.Sprintf("component.Define(%q): no Build", d.Name))
	}
	var zero O
	for _, f := range d.Flags {
		if _, err := FieldValue(&zero, f.Path); err != nil {
			panic(fmt.Sprintf("component.Define(%q): flag --%s: %v", d.Name, f.Name, err))
		}
	}
	for _, e := range d.Env {
		if _, err := FieldValue(&zero, e.Path); err != nil {
			panic(fmt.Sprintf("component.Define(%q): variable %s: %v", d.Name, e.Name, err))
		}
	}
	return &Def[O, P]{d: d}
}

// Def is a defined part with options O.
type Def[O any, P interface {
	*O
	Options
}] struct {
	d Definition[O]
}

var _ Part = (*Def[noOptions, *noOptions])(nil)

// Name implements Part.
func (p *Def[O, P]) Name() string { return p.d.Name }

// Doc implements Part.
func (p *Def[O, P]) Doc() string { return p.d.Doc }

// DefaultOnDoc implements Part.
func (p *Def[O, P]) DefaultOnDoc() string { return p.d.DefaultOnDoc }

// Provides implements Part.
func (p *Def[O, P]) Provides() []reflect.Type { return p.d.Provides }

// Hints implements Part.
func (p *Def[O, P]) Hints() []Hint { return p.d.Hints }

// AddHint adds a hint for a type the part needs only through a package of
// its own that it does not import: servingcert's kubernetes provider
// (modules/servingcert/kubecsr) adds the hint for *kubeapi.Client, so
// that a plane without that package does not link client-go. Call it from
// that package's init, before anything reads the hints.
func (p *Def[O, P]) AddHint(h Hint) { p.d.Hints = append(p.d.Hints, h) }

// EnvVars implements Part.
func (p *Def[O, P]) EnvVars() []EnvVar { return p.d.Env }

// Flags implements Part.
func (p *Def[O, P]) Flags() []FlagInfo {
	var zero O
	out := make([]FlagInfo, 0, len(p.d.Flags))
	for _, f := range p.d.Flags {
		v, _ := FieldValue(&zero, f.Path)
		kind := v.Kind()
		if kind == reflect.Pointer {
			kind = v.Type().Elem().Kind()
		}
		out = append(out, FlagInfo{Name: f.Name, Path: f.Path, Usage: f.Usage, Kind: kind})
	}
	return out
}

// GoModule implements Part: by convention the package of O exports
// Module(O) fx.Option.
func (p *Def[O, P]) GoModule() (string, string) {
	t := reflect.TypeFor[O]()
	pkg, _, _ := strings.Cut(t.String(), ".")
	return pkg + ".Module", t.PkgPath()
}

// Options implements Part.
func (p *Def[O, P]) Options() []OptionDoc {
	var o O
	P(&o).SetDefaults()
	return DescribeOptions(&o)
}

// NewSection implements Part.
func (p *Def[O, P]) NewSection() Section { return &section[O, P]{def: p} }

// Module returns the part's fx module for opts, for a Go program: the
// defaults are set, and invalid options make the composition fail with an
// error that names the Go fields ("ca.Options.KeyType: ...").
func (p *Def[O, P]) Module(opts O) fx.Option {
	P(&opts).SetDefaults()
	if err := P(&opts).Validate(); err != nil {
		t := reflect.TypeFor[O]()
		return fx.Error(&OptionsError{Part: p.d.Name, Err: MapFieldErrors(err, func(fe *FieldError) {
			fe.Path = JoinPath(t.String(), GoFieldPath(t, fe.Path))
		})})
	}
	return p.module(opts)
}

func (p *Def[O, P]) module(opts O) fx.Option {
	return fx.Module(p.d.Name, append([]fx.Option{fx.Supply(fx.Private, opts)}, p.d.Build(opts)...)...)
}

// OptionsError is an invalid option of a part: the composition fails with
// it before anything runs.
type OptionsError struct {
	Part string
	Err  error
}

func (e *OptionsError) Error() string {
	msgs := strings.Split(e.Err.Error(), "\n")
	return fmt.Sprintf("%s part: %s", e.Part, strings.Join(msgs, "; "))
}

func (e *OptionsError) Unwrap() error { return e.Err }

// section implements Section for a Def.
type section[O any, P interface {
	*O
	Options
}] struct {
	def  *Def[O, P]
	opts O
}

func (s *section[O, P]) Part() Part                   { return s.def }
func (s *section[O, P]) Options() any                 { return &s.opts }
func (s *section[O, P]) Decode(doc any) error         { return Decode(doc, &s.opts) }
func (s *section[O, P]) Set(path, value string) error { return SetField(&s.opts, path, value) }

func (s *section[O, P]) SetFlag(name, value string) error {
	for _, f := range s.def.d.Flags {
		if f.Name != name {
			continue
		}
		if err := SetField(&s.opts, f.Path, value); err != nil {
			return MapFieldErrors(err, func(fe *FieldError) { fe.Aliases = append(fe.Aliases, "--"+name) })
		}
		if f.Then != nil {
			f.Then(&s.opts)
		}
		return nil
	}
	return fmt.Errorf("part %s has no flag --%s", s.def.d.Name, name)
}

func (s *section[O, P]) DefaultOn(lookupEnv func(string) (string, bool)) bool {
	if s.def.d.DefaultOn == nil {
		return true
	}
	return s.def.d.DefaultOn(&s.opts, lookupEnv)
}

func (s *section[O, P]) Validate() error {
	o := s.opts
	P(&o).SetDefaults()
	return P(&o).Validate()
}

func (s *section[O, P]) Module() fx.Option {
	o := s.opts
	P(&o).SetDefaults()
	return s.def.module(o)
}

// noOptions checks at compile time that Def implements Part.
type noOptions struct{}

func (*noOptions) SetDefaults()    {}
func (*noOptions) Validate() error { return nil }
