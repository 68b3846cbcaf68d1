package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/spf13/pflag"

	"github.com/bootgraph/bootgraph/component"
)

// Flags are the command-line flags that choose a plane: --config, the
// top-level settings, --enable/--disable, and every part's own flags, with
// usage generated from the parts' descriptions.
type Flags struct {
	parts []component.Part
	fs    *pflag.FlagSet
	owner map[string]string // a part's flag name -> the part's name

	file            string
	dataDir         string
	namespace       string
	logLevel        string
	enable, disable []string
}

// RegisterFlags adds the flags of parts (Builtin() when none are given) to
// fs. It panics if two parts declare the same flag.
func RegisterFlags(fs *pflag.FlagSet, parts ...component.Part) *Flags {
	if len(parts) == 0 {
		parts = Builtin()
	}
	f := &Flags{parts: parts, fs: fs, owner: map[string]string{}}
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.Name()
	}
	fs.StringVarP(&f.file, "config", "c", "", "YAML config file (default: the embedded local default)")
	fs.StringVar(&f.namespace, "namespace", "", "the control plane's namespace (config namespace; env "+EnvNamespace+"; default "+component.DefaultNamespace+")")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory for local state: CA and token file (config dataDir; default "+component.DefaultDataDir+")")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (config log.level)")
	fs.StringSliceVar(&f.enable, "enable", nil, "parts to include, overriding the config: "+strings.Join(names, ","))
	fs.StringSliceVar(&f.disable, "disable", nil, "parts to leave out, overriding the config: "+strings.Join(names, ","))
	for _, p := range parts {
		for _, fl := range p.Flags() {
			if other, dup := f.owner[fl.Name]; dup || fs.Lookup(fl.Name) != nil {
				panic(fmt.Sprintf("config.RegisterFlags: flag --%s of part %q is taken (by %q)", fl.Name, p.Name(), other))
			}
			f.owner[fl.Name] = p.Name()
			usage := fmt.Sprintf("%s (config %s.%s%s)", fl.Usage, p.Name(), fl.Path, defaultNote(p, fl.Path))
			switch fl.Kind {
			case reflect.Bool:
				fs.Bool(fl.Name, false, usage)
			case reflect.Slice:
				fs.StringSlice(fl.Name, nil, usage)
			default:
				fs.String(fl.Name, "", usage)
			}
		}
	}
	return f
}

// defaultNote is "; default X" for the option at path of p, if it has one.
func defaultNote(p component.Part, path string) string {
	for _, o := range p.Options() {
		if o.Path == path && len(o.Default) > 0 {
			return "; default " + strings.Trim(string(o.Default), `"`)
		}
	}
	return ""
}

// Load builds the configuration the flags choose, with the precedence
// flags > environment (read through lookupEnv) > file > defaults.
func (f *Flags) Load(lookupEnv func(string) (string, bool)) (*Config, error) {
	c := New(f.parts...)
	if f.file != "" {
		var err error
		if c, err = Load(f.file, f.parts...); err != nil {
			return nil, err
		}
	}
	if err := c.ApplyEnv(lookupEnv); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		flag string
		dst  *string
		v    string
	}{{"data-dir", &c.DataDir, f.dataDir}, {"namespace", &c.Namespace, f.namespace}, {"log-level", &c.Log.Level, f.logLevel}} {
		if f.fs.Changed(s.flag) {
			*s.dst = s.v
		}
	}
	var errs []error
	f.fs.Visit(func(fl *pflag.Flag) {
		part, ok := f.owner[fl.Name]
		if !ok {
			return
		}
		value := fl.Value.String()
		if sv, isSlice := fl.Value.(pflag.SliceValue); isSlice {
			value = strings.Join(sv.GetSlice(), ",")
		}
		errs = append(errs, component.WithinSection(part, c.sections[part].SetFlag(fl.Name, value)))
	})
	for _, list := range []struct {
		flag  string
		names []string
		on    bool
	}{{"enable", f.enable, true}, {"disable", f.disable, false}} {
		for _, name := range list.names {
			if err := c.SetEnabled(name, list.on); err != nil {
				errs = append(errs, fmt.Errorf("--%s: %w", list.flag, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}
