package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// JSON writes g in the versioned JSON form (schema Schema, documented in
// SCHEMA.md), indented by two spaces and ending in a newline. The output
// depends only on g: arrays keep the order of g's slices, required arrays
// are written as [] rather than null, and Schema is filled in when g has
// none. A graph of another schema version is an error.
func JSON(g *Graph, w io.Writer) error {
	data, err := marshalJSON(g)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("json: write: %w", err)
	}
	return nil
}

// marshalJSON is JSON into a byte slice.
func marshalJSON(g *Graph) ([]byte, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	if g.Schema != "" && g.Schema != Schema {
		return nil, fmt.Errorf("json: graph has schema %q, this package writes %q", g.Schema, Schema)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // readable types: "<-chan int", not "\u003c-chan int"
	if err := enc.Encode(normalized(g)); err != nil {
		return nil, fmt.Errorf("json: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// normalized is a shallow copy of g with its schema set and its required
// arrays non-nil, so that they encode as [] and not null.
func normalized(g *Graph) *Graph {
	c := *g
	c.Schema = Schema
	c.Modules = nonNil(c.Modules)
	c.Nodes = nonNil(c.Nodes)
	c.Edges = nonNil(c.Edges)
	if c.Groups != nil {
		c.Groups = append([]Group(nil), c.Groups...)
		for i := range c.Groups {
			c.Groups[i].Members = nonNil(c.Groups[i].Members)
			c.Groups[i].Consumers = nonNil(c.Groups[i].Consumers)
		}
	}
	if c.Problems != nil {
		c.Problems = append([]Problem(nil), c.Problems...)
		for i := range c.Problems {
			c.Problems[i].Nodes = nonNil(c.Problems[i].Nodes)
		}
	}
	return &c
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ErrSchema is wrapped by ReadJSON's error for a document that has no
// schema or a schema version this package does not read.
var ErrSchema = errors.New("unsupported graph schema")

// ReadJSON reads a graph written by JSON. It checks the schema version
// first: a document without one, or of another version, is an error that
// names both versions (fields are only added within a version, so unknown
// fields are ignored). The graph must also pass Validate.
func ReadJSON(r io.Reader) (*Graph, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read graph json: %w", err)
	}
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("read graph json: %w", err)
	}
	switch {
	case head.Schema == nil:
		return nil, fmt.Errorf("read graph json: %w: no \"schema\" field (this bootgraph reads %q)", ErrSchema, Schema)
	case *head.Schema != Schema:
		return nil, fmt.Errorf("read graph json: %w %q (this bootgraph reads %q)", ErrSchema, *head.Schema, Schema)
	}
	var g Graph
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, fmt.Errorf("read graph json (schema %s): %w", Schema, err)
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("read graph json: %w", err)
	}
	return &g, nil
}

// writeIndented writes v as JSON indented by two spaces, HTML characters
// as they are, ending in a newline.
func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return nil
}
