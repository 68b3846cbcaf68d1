package xds

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	// Types a resources file may name in an Any ("@type"): the HTTP
	// connection manager of a listener and its filters, TLS transport
	// sockets and the load-balancing policies that gRPC and Envoy share.
	// A program serving other extensions imports their packages too.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/pick_first/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/wrr_locality/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Resources are xDS resources of the four kinds the server serves. A
// resource's name is its Name (a route configuration's too), or for
// endpoints its ClusterName; names are unique within a kind.
//
// Set and SetShared take the resources as they are: do not change them
// afterwards, build new ones.
type Resources struct {
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
}

// kind is one of the four resource kinds, in the order xDS wants them
// pushed (clusters, endpoints, listeners, routes).
type kind int

const (
	kindClusters kind = iota
	kindEndpoints
	kindListeners
	kindRoutes
	numKinds
)

// kinds describes each kind: its key in a resources file, its type URL,
// its place in a cache snapshot and its short name in metrics (istiod's).
var kinds = [numKinds]struct {
	key, typeURL, metric string
	snapshot             types.ResponseType
	newMessage           func() proto.Message
}{
	kindClusters:  {"clusters", resource.ClusterType, "cds", types.Cluster, func() proto.Message { return new(clusterv3.Cluster) }},
	kindEndpoints: {"endpoints", resource.EndpointType, "eds", types.Endpoint, func() proto.Message { return new(endpointv3.ClusterLoadAssignment) }},
	kindListeners: {"listeners", resource.ListenerType, "lds", types.Listener, func() proto.Message { return new(listenerv3.Listener) }},
	kindRoutes:    {"routes", resource.RouteType, "rds", types.Route, func() proto.Message { return new(routev3.RouteConfiguration) }},
}

// list returns the resources of kind k.
func (r Resources) list(k kind) []types.Resource {
	var out []types.Resource
	switch k {
	case kindClusters:
		out = appendAll(out, r.Clusters)
	case kindEndpoints:
		out = appendAll(out, r.Endpoints)
	case kindListeners:
		out = appendAll(out, r.Listeners)
	case kindRoutes:
		out = appendAll(out, r.Routes)
	}
	return out
}

func appendAll[M types.Resource](out []types.Resource, in []M) []types.Resource {
	for _, m := range in {
		out = append(out, m)
	}
	return out
}

// add appends m, a resource of kind k, to r.
func (r *Resources) add(k kind, m proto.Message) {
	switch k {
	case kindClusters:
		r.Clusters = append(r.Clusters, m.(*clusterv3.Cluster))
	case kindEndpoints:
		r.Endpoints = append(r.Endpoints, m.(*endpointv3.ClusterLoadAssignment))
	case kindListeners:
		r.Listeners = append(r.Listeners, m.(*listenerv3.Listener))
	case kindRoutes:
		r.Routes = append(r.Routes, m.(*routev3.RouteConfiguration))
	}
}

// Len is the number of resources of every kind.
func (r Resources) Len() int {
	return len(r.Clusters) + len(r.Endpoints) + len(r.Listeners) + len(r.Routes)
}

// nameOf is a resource's name.
func nameOf(m types.Resource) string {
	if cla, ok := m.(*endpointv3.ClusterLoadAssignment); ok {
		return cla.GetClusterName()
	}
	if n, ok := m.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	return ""
}

// Validate reports every resource that has no name, shares its name with
// another of its kind, or breaks the constraints of Envoy's API (the
// protoc-gen-validate rules generated with the types), each as
// "<kind>[<index>] (<name>): <reason>".
func (r Resources) Validate() error {
	_, err := newLayer(r)
	return err
}

// layer is one source of resources (the file, the shared resources, a
// node's own), indexed by name, with a version per kind that changes when
// its contents do.
type layer struct {
	items   [numKinds]map[string]types.Resource
	version [numKinds]string
}

// newLayer validates r and indexes it.
func newLayer(r Resources) (*layer, error) {
	l := &layer{}
	var errs []error
	for k := range numKinds {
		list := r.list(k)
		l.items[k] = make(map[string]types.Resource, len(list))
		for i, m := range list {
			name := nameOf(m)
			where := fmt.Sprintf("%s[%d]", kinds[k].key, i)
			if name != "" {
				where += " (" + name + ")"
			}
			switch {
			case isNil(m):
				errs = append(errs, fmt.Errorf("%s: is nil", where))
				continue
			case name == "":
				errs = append(errs, fmt.Errorf("%s: has no name", where))
				continue
			case l.items[k][name] != nil:
				errs = append(errs, fmt.Errorf("%s: a second %s named %q", where, strings.TrimSuffix(kinds[k].key, "s"), name))
				continue
			}
			if v, ok := m.(interface{ ValidateAll() error }); ok {
				if err := v.ValidateAll(); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
					continue
				}
			}
			l.items[k][name] = m
		}
		v, err := versionOf(l.items[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", kinds[k].key, err))
		}
		l.version[k] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return l, nil
}

func isNil(m types.Resource) bool {
	return m == nil || !m.ProtoReflect().IsValid()
}

// versionOf hashes resources, in name order, deterministically marshaled.
func versionOf(items map[string]types.Resource) (string, error) {
	names := make([]string, 0, len(items))
	for n := range items {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	for _, n := range names {
		b, err := opts.Marshal(items[n])
		if err != nil {
			return "", fmt.Errorf("%s: %w", n, err)
		}
		fmt.Fprintf(h, "%d:%s%d:", len(n), n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// resources turns l back into Resources, each kind in name order.
func (l *layer) resources() Resources {
	var r Resources
	for k := range numKinds {
		names := make([]string, 0, len(l.items[k]))
		for n := range l.items[k] {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			r.add(k, l.items[k][n])
		}
	}
	return r
}

// ParseResources reads a resources file's contents, YAML or JSON (see the
// package doc), and validates the resources.
func ParseResources(data []byte) (Resources, error) {
	var r Resources
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return r, err
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || string(js) == "null" {
		return r, nil // an empty file: no resources
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(js, &doc); err != nil {
		return r, fmt.Errorf("want a mapping with clusters, endpoints, listeners and routes: %w", err)
	}
	var errs []error
	known := map[string]kind{}
	for k := range numKinds {
		known[kinds[k].key] = k
	}
	keys := make([]string, 0, len(doc))
	for key := range doc {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		k, ok := known[key]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown field %q (valid here: clusters, endpoints, listeners, routes)", key))
			continue
		}
		var items []json.RawMessage
		if string(doc[key]) != "null" {
			if err := json.Unmarshal(doc[key], &items); err != nil {
				errs = append(errs, fmt.Errorf("%s: want a list of %s: %w", key, fullName(k), err))
				continue
			}
		}
		for i, item := range items {
			m := kinds[k].newMessage()
			if err := protojson.Unmarshal(item, m); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %s: %w", key, i, fullName(k), err))
				continue
			}
			r.add(k, m)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Resources{}, err
	}
	if err := r.Validate(); err != nil {
		return Resources{}, err
	}
	return r, nil
}

// fullName is the protobuf name of kind k's messages.
func fullName(k kind) string { return strings.TrimPrefix(kinds[k].typeURL, resource.APITypePrefix) }

// LoadResources reads and parses a resources file; errors name the file.
func LoadResources(path string) (Resources, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Resources{}, fmt.Errorf("xds resources file: %w", err)
	}
	r, err := ParseResources(data)
	if err != nil {
		return Resources{}, fmt.Errorf("xds resources file %s: %w", path, err)
	}
	return r, nil
}
