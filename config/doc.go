// Package config is bootgraph's config layer: it reads a plane from a
// strict YAML (or JSON) file, environment variables and command-line flags,
// and builds it with the engine.
//
// It knows parts only through their descriptions (component.Part): each
// section of the file is decoded and validated by the part that owns it,
// and this package adds the section's name to the errors, so that they read
// as the file does: `unknown field "ca.trustDomian" (valid here: ...)`.
// Builtin lists bootgraph's own parts; a program adds its own to the list
// and they get a section, --enable/--disable, their flags and a row in
// `bootgraph modules` the same way.
//
// Precedence: flags > environment > file > defaults.
package config
