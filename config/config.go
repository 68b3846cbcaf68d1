package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/graph"
)

// EnvNamespace sets the plane's namespace, as in a pod.
const EnvNamespace = "POD_NAMESPACE"

// Settings are the top-level fields of a config file: where the plane
// runs, the engine's timeouts, and logging.
type Settings struct {
	// Namespace of the control plane. Default "istio-system".
	Namespace string `json:"namespace,omitempty" doc:"the plane's namespace: its serving certificate names istiod.<namespace>.svc"`
	// DataDir holds local state. Default ".bootgraph".
	DataDir string `json:"dataDir,omitempty" doc:"local state: the CA (dataDir/ca), the token file (dataDir/tokens.csv)"`
	// StartTimeout bounds every OnStart hook together. Default 15s.
	StartTimeout component.Duration `json:"startTimeout,omitempty" doc:"every OnStart hook together; on timeout, what started is stopped"`
	// StopTimeout bounds a graceful stop. Default 15s.
	StopTimeout component.Duration `json:"stopTimeout,omitempty" doc:"graceful stop, draining included"`
	// Log chooses the logger.
	Log bootgraph.LogConfig `json:"log,omitempty"`
}

// SetDefaults implements component.Options.
func (s *Settings) SetDefaults() {
	env := component.Env{Namespace: s.Namespace, DataDir: s.DataDir}.WithDefaults()
	s.Namespace, s.DataDir = env.Namespace, env.DataDir
	if s.StartTimeout == 0 {
		s.StartTimeout = component.Duration(bootgraph.DefaultTimeout)
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = component.Duration(bootgraph.DefaultTimeout)
	}
	if s.Log.Level == "" {
		s.Log.Level = "info"
	}
	if s.Log.Format == "" {
		s.Log.Format = "console"
	}
}

// Validate implements component.Options.
func (s *Settings) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(s.Namespace); len(msgs) > 0 {
		errs = append(errs, component.FieldErrorf("namespace", "%q is not a Kubernetes namespace name: %s", s.Namespace, strings.Join(msgs, "; ")))
	}
	if s.StartTimeout <= 0 {
		errs = append(errs, component.FieldErrorf("startTimeout", "%v must be positive", s.StartTimeout))
	}
	if s.StopTimeout <= 0 {
		errs = append(errs, component.FieldErrorf("stopTimeout", "%v must be positive", s.StopTimeout))
	}
	if _, err := bootgraph.NewLogger(s.Log); err != nil {
		path, _, _ := strings.Cut(err.Error(), ":")
		errs = append(errs, &component.FieldError{Path: path, Err: errors.New(strings.TrimSpace(strings.TrimPrefix(err.Error(), path+":")))})
	}
	return errors.Join(errs...)
}

// Config is a plane's configuration: the top-level settings, and one
// section per part with whether the part is on.
type Config struct {
	Settings
	// Logger, when set, is used instead of one built from Log. Go only.
	Logger *zap.Logger

	parts     []component.Part
	sections  map[string]component.Section
	enabled   map[string]*bool
	lookupEnv func(string) (string, bool)
}

// New returns the embedded default configuration of parts (Builtin() when
// none are given): every part with its defaults, on by its own rule.
func New(parts ...component.Part) *Config {
	if len(parts) == 0 {
		parts = Builtin()
	}
	c := &Config{
		parts:     parts,
		sections:  map[string]component.Section{},
		enabled:   map[string]*bool{},
		lookupEnv: func(string) (string, bool) { return "", false },
	}
	for _, p := range parts {
		if c.sections[p.Name()] != nil {
			panic(fmt.Sprintf("config.New: two parts named %q", p.Name()))
		}
		c.sections[p.Name()] = p.NewSection()
	}
	return c
}

// Load reads the config file at path strictly into a New configuration of
// parts: an unknown or misspelt field is an error naming the file, the
// field's full path and the fields valid there.
func Load(path string, parts ...component.Part) (*Config, error) {
	c := New(parts...)
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.Decode(data); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// maxFileSize bounds a config file: a mistaken path (a device, a log) must
// not be read whole.
const maxFileSize = 4 << 20

func readFile(path string) ([]byte, error) {
	// Stat before opening: opening a FIFO would block.
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// Decode reads a YAML or JSON document into c, strictly.
func (c *Config) Decode(data []byte) error {
	doc, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	var tree any
	if err := json.Unmarshal(doc, &tree); err != nil {
		return err
	}
	if tree == nil {
		return nil // an empty file: the defaults
	}
	top, ok := tree.(map[string]any)
	if !ok {
		return fmt.Errorf("want a mapping of fields (%s), got %s", strings.Join(c.topLevelNames(), ", "), describe(tree))
	}
	settings := map[string]any{}
	var errs []error
	for key, value := range top {
		if sec := c.sections[key]; sec != nil {
			errs = append(errs, c.decodeSection(key, sec, value))
		} else {
			settings[key] = value
		}
	}
	err = component.Decode(settings, &c.Settings)
	errs = append(errs, component.MapFieldErrors(err, func(fe *component.FieldError) {
		if fe.Valid != nil && !strings.Contains(fe.Path, ".") {
			fe.Valid = c.topLevelNames()
		}
	}))
	return sortErrors(errors.Join(errs...))
}

// decodeSection reads a part's section: "enabled", then the part's options.
func (c *Config) decodeSection(name string, sec component.Section, value any) error {
	if value == nil {
		return nil
	}
	m, ok := value.(map[string]any)
	if !ok {
		return component.FieldErrorf(name, "want a mapping of the %s part's options, got %s", name, describe(value))
	}
	rest := map[string]any{}
	for k, v := range m {
		rest[k] = v
	}
	var errs []error
	if on, present := rest["enabled"]; present {
		delete(rest, "enabled")
		if b, ok := on.(bool); ok {
			c.enabled[name] = &b
		} else if on != nil {
			errs = append(errs, component.FieldErrorf(name+".enabled", "want true or false, got %s", describe(on)))
		}
	}
	err := component.MapFieldErrors(sec.Decode(rest), func(fe *component.FieldError) {
		if fe.Valid != nil && !strings.Contains(fe.Path, ".") {
			fe.Valid = append(slices.Clone(fe.Valid), "enabled")
			slices.Sort(fe.Valid)
		}
	})
	return errors.Join(append(errs, component.WithinSection(name, err))...)
}

func (c *Config) topLevelNames() []string {
	names := component.FieldNames(&Settings{})
	for _, p := range c.parts {
		names = append(names, p.Name())
	}
	slices.Sort(names)
	return names
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprint(v)
}

// sortErrors orders joined errors by their text, so that a file's errors
// read the same on every run.
func sortErrors(err error) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	errs := slices.Clone(j.Unwrap())
	slices.SortStableFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Parts returns the parts c knows, in order.
func (c *Config) Parts() []component.Part { return slices.Clone(c.parts) }

// Part returns the part named name, or nil.
func (c *Config) Part(name string) component.Part {
	if s := c.sections[name]; s != nil {
		return s.Part()
	}
	return nil
}

// Section returns the section of the part named name, or nil.
func (c *Config) Section(name string) component.Section { return c.sections[name] }

// Options returns a pointer to the options of the part named name, to read
// or change from Go: config.Options[grpc.Options](cfg, "grpc").Addr = ...
// It panics if there is no such part or its options are not an O.
func Options[O any](c *Config, name string) *O {
	sec := c.sections[name]
	if sec == nil {
		panic(fmt.Sprintf("config.Options: no part named %q", name))
	}
	o, ok := sec.Options().(*O)
	if !ok {
		panic(fmt.Sprintf("config.Options: part %q has options %T, not %T", name, sec.Options(), new(O)))
	}
	return o
}

// SetEnabled turns the part named name on or off, overriding its own rule.
func (c *Config) SetEnabled(name string, on bool) error {
	if c.sections[name] == nil {
		return fmt.Errorf("unknown part %q, want one of %s", name, strings.Join(c.partNames(), ", "))
	}
	c.enabled[name] = &on
	return nil
}

// Enabled reports whether the part named name is on: as set, else by the
// part's own rule.
func (c *Config) Enabled(name string) bool {
	if on := c.enabled[name]; on != nil {
		return *on
	}
	sec := c.sections[name]
	return sec != nil && sec.DefaultOn(c.lookupEnv)
}

func (c *Config) partNames() []string {
	names := make([]string, len(c.parts))
	for i, p := range c.parts {
		names[i] = p.Name()
	}
	return names
}

// ApplyEnv applies the environment, read through lookup (os.LookupEnv in
// production): POD_NAMESPACE sets the namespace, each part's variables
// (PILOT_CERT_PROVIDER, KUBECONFIG, ...) set its options, and the parts'
// default-on rules see the environment ($KUBERNETES_SERVICE_HOST).
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	c.lookupEnv = lookup
	if v, ok := lookup(EnvNamespace); ok && v != "" {
		c.Namespace = v
	}
	var errs []error
	for _, p := range c.parts {
		sec := c.sections[p.Name()]
		for _, e := range p.EnvVars() {
			v, ok := lookup(e.Name)
			if !ok || v == "" {
				continue
			}
			if e.Fallback {
				if f, err := component.FieldValue(sec.Options(), e.Path); err == nil && !f.IsZero() {
					continue
				}
			}
			if err := sec.Set(e.Path, v); err != nil {
				errs = append(errs, component.WithinSection(p.Name(), component.MapFieldErrors(err,
					func(fe *component.FieldError) { fe.Aliases = append(fe.Aliases, "$"+e.Name) })))
			}
		}
	}
	return errors.Join(errs...)
}

// Validate reports every invalid field of the settings and of every part
// that is on, each named by its path in the file and, where one sets it,
// its flag or environment variable.
func (c *Config) Validate() error {
	s := c.Settings
	s.SetDefaults()
	errs := []error{s.Validate()}
	for _, p := range c.parts {
		if !c.Enabled(p.Name()) {
			continue
		}
		err := c.sections[p.Name()].Validate()
		err = component.MapFieldErrors(err, func(fe *component.FieldError) { fe.Aliases = aliases(p, fe.Path) })
		errs = append(errs, component.WithinSection(p.Name(), err))
	}
	return errors.Join(errs...)
}

// aliases are the flags and variables that set the option at path.
func aliases(p component.Part, path string) []string {
	var out []string
	for _, f := range p.Flags() {
		if f.Path == path {
			out = append(out, "--"+f.Name)
		}
	}
	for _, e := range p.EnvVars() {
		if e.Path == path {
			out = append(out, "$"+e.Name)
		}
	}
	return out
}

// Env is the plane's component.Env from the settings.
func (c *Config) Env() component.Env {
	return component.Env{Namespace: c.Namespace, DataDir: c.DataDir}.WithDefaults()
}

// Modules returns the fx options of the plane c describes: the Env, and
// the module of every part that is on. Call Validate first.
func (c *Config) Modules() []fx.Option {
	opts := []fx.Option{component.SupplyEnv(c.Env())}
	for _, p := range c.parts {
		if c.Enabled(p.Name()) {
			opts = append(opts, c.sections[p.Name()].Module())
		}
	}
	return opts
}

// EngineOptions are the engine's options from the settings: the logger
// (Logger, or one built from Log), the timeouts, and hints worded for a
// config file.
func (c *Config) EngineOptions() (bootgraph.Options, error) {
	s := c.Settings
	s.SetDefaults()
	log := c.Logger
	if log == nil {
		var err error
		if log, err = bootgraph.NewLogger(s.Log); err != nil {
			return bootgraph.Options{}, err
		}
	}
	return bootgraph.Options{
		Logger:       log,
		StartTimeout: time.Duration(s.StartTimeout),
		StopTimeout:  time.Duration(s.StopTimeout),
		ConfigHints:  true,
	}, nil
}

// Build validates c and builds its plane with the engine, plus extra
// options from a program (services, handlers, fx.Populate targets).
func (c *Config) Build(extra ...fx.Option) (*bootgraph.Plane, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts, err := c.EngineOptions()
	if err != nil {
		return nil, err
	}
	return bootgraph.New(opts, append(c.Modules(), extra...)...)
}

// Check validates c and plans its plane: the error Build would return for
// a missing part, a cycle or an invalid option, worded for a config file;
// nothing runs.
func (c *Config) Check(extra ...fx.Option) error {
	if err := c.Validate(); err != nil {
		return err
	}
	opts, err := c.EngineOptions()
	if err != nil {
		return err
	}
	return bootgraph.Check(opts, append(c.Modules(), extra...)...)
}

// Plan validates c and draws the plane Build would build, without building
// it.
func (c *Config) Plan(extra ...fx.Option) (*graph.Graph, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts, err := c.EngineOptions()
	if err != nil {
		return nil, err
	}
	return bootgraph.Plan(opts, append(c.Modules(), extra...)...)
}
