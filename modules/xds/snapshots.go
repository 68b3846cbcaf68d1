package xds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"go.uber.org/zap"
)

// Snapshots publishes what each xDS node is served: go-control-plane's
// snapshot cache, fed from three layers, each overriding the one before it
// by resource name:
//
//  1. the resources file (Options.ResourcesFile), for every node;
//  2. SetShared, for every node;
//  3. Set, for one node.
//
// A node is the node.id its client sends, which must be the client's
// SPIFFE identity (see the package doc), so Set("spiffe://cluster.local/ns/default/sa/web", r)
// configures every client that authenticates as that identity. A change
// reaches every open stream of the nodes it concerns; a kind of resource
// whose contents did not change is not pushed again.
type Snapshots struct {
	cache cache.SnapshotCache
	log   *zap.Logger

	mu     sync.Mutex
	file   *layer
	shared *layer
	nodes  map[string]*nodeState
}

// nodeState is what Snapshots knows of a node: its own resources, if set,
// and its open streams. A node with neither is forgotten.
type nodeState struct {
	own     *layer
	streams int
}

var emptyLayer = func() *layer {
	l, err := newLayer(Resources{})
	if err != nil {
		panic(err)
	}
	return l
}()

// NewSnapshots returns Snapshots with no resources; log may be nil.
func NewSnapshots(log *zap.Logger) *Snapshots {
	if log == nil {
		log = zap.NewNop()
	}
	return &Snapshots{
		// ads=false: answer a request with the resources it names that
		// exist. In go-control-plane's ADS mode a request must name every
		// resource of its kind in the snapshot before it is answered,
		// which a gRPC client, asking only for what it uses, never does.
		cache:  cache.NewSnapshotCache(false, cache.IDHash{}, cacheLogger(log)),
		log:    log,
		file:   emptyLayer,
		shared: emptyLayer,
		nodes:  map[string]*nodeState{},
	}
}

// Cache is the snapshot cache the server answers from.
func (s *Snapshots) Cache() cache.SnapshotCache { return s.cache }

// Set makes r the node's own resources, replacing any it had, and pushes
// the node's new snapshot. Invalid resources are an error and change
// nothing.
func (s *Snapshots) Set(node string, r Resources) error {
	if node == "" {
		return errors.New("xds: Set needs a node ID")
	}
	l, err := newLayer(r)
	if err != nil {
		return fmt.Errorf("xds: resources of node %s: %w", node, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[node]
	if n == nil {
		n = &nodeState{}
		s.nodes[node] = n
	}
	n.own = l
	s.publishLocked(node, n)
	return nil
}

// Delete drops the node's own resources; a connected node is then served
// the shared ones.
func (s *Snapshots) Delete(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[node]
	if n == nil || n.own == nil {
		return
	}
	n.own = nil
	if n.streams == 0 {
		s.forgetLocked(node)
		return
	}
	s.publishLocked(node, n)
}

// SetShared makes r the resources every node is served (over the
// resources file's, under each node's own), and pushes every known node's
// new snapshot.
func (s *Snapshots) SetShared(r Resources) error {
	l, err := newLayer(r)
	if err != nil {
		return fmt.Errorf("xds: shared resources: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shared = l
	s.publishAllLocked()
	return nil
}

// setFile makes l the resources file's layer.
func (s *Snapshots) setFile(l *layer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.file = l
	s.publishAllLocked()
}

// Get returns what node is served now: every layer merged, each kind in
// name order.
func (s *Snapshots) Get(node string) Resources {
	s.mu.Lock()
	defer s.mu.Unlock()
	merged, _ := s.mergeLocked(s.nodes[node])
	return merged.resources()
}

// Nodes lists the nodes that have their own resources or an open stream.
func (s *Snapshots) Nodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.nodes))
	for n := range s.nodes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// attach records a stream of node; a node seen for the first time gets
// its snapshot before its stream asks for anything.
func (s *Snapshots) attach(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[node]
	if n == nil {
		n = &nodeState{}
		s.nodes[node] = n
		s.publishLocked(node, n)
	}
	n.streams++
}

// detach records the end of a stream of node; a node with no stream and
// no resources of its own is dropped from the cache.
func (s *Snapshots) detach(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[node]
	if n == nil {
		return
	}
	n.streams--
	if n.streams <= 0 && n.own == nil {
		s.forgetLocked(node)
	}
}

func (s *Snapshots) forgetLocked(node string) {
	delete(s.nodes, node)
	s.cache.ClearSnapshot(node)
}

// publishAllLocked publishes every known node's snapshot. The nodes
// without resources of their own share one snapshot, built once.
func (s *Snapshots) publishAllLocked() {
	var common *cache.Snapshot
	for node, n := range s.nodes {
		if n.own != nil {
			s.setLocked(node, s.snapshotLocked(n))
			continue
		}
		if common == nil {
			common = s.snapshotLocked(n)
		}
		s.setLocked(node, common)
	}
}

// publishLocked publishes node's snapshot.
func (s *Snapshots) publishLocked(node string, n *nodeState) {
	s.setLocked(node, s.snapshotLocked(n))
}

// snapshotLocked builds n's snapshot. Its version map (for delta) is
// built now, so that the snapshot never changes and nodes can share it.
func (s *Snapshots) snapshotLocked(n *nodeState) *cache.Snapshot {
	merged, versions := s.mergeLocked(n)
	snap := &cache.Snapshot{}
	for k := range numKinds {
		items := make([]types.Resource, 0, len(merged.items[k]))
		for _, m := range merged.items[k] {
			items = append(items, m)
		}
		snap.Resources[kinds[k].snapshot] = cache.NewResources(versions[k], items)
	}
	if err := snap.ConstructVersionMap(); err != nil {
		// Only a resource that does not marshal fails, and every resource
		// was marshaled when its layer was made.
		s.log.Warn("building an xDS snapshot's version map failed", zap.Error(err))
	}
	return snap
}

// setLocked sets node's snapshot in the cache, which answers the node's
// open watches whose version changed.
func (s *Snapshots) setLocked(node string, snap *cache.Snapshot) {
	// SetSnapshot fails only when its context ends before a watch's
	// buffered channel takes a response, and this context never ends.
	if err := s.cache.SetSnapshot(context.Background(), node, snap); err != nil {
		s.log.Warn("setting an xDS snapshot failed", zap.String("node", node), zap.Error(err))
	}
}

// mergeLocked merges the layers for n (nil: no node of its own) and
// returns the version of each kind, which changes whenever a layer's
// version of that kind does.
func (s *Snapshots) mergeLocked(n *nodeState) (*layer, [numKinds]string) {
	layers := []*layer{s.file, s.shared, emptyLayer}
	if n != nil && n.own != nil {
		layers[2] = n.own
	}
	merged := &layer{}
	var versions [numKinds]string
	for k := range numKinds {
		h := sha256.New()
		size := 0
		for _, l := range layers {
			size += len(l.items[k])
			h.Write([]byte(l.version[k]))
			h.Write([]byte{0})
		}
		merged.items[k] = make(map[string]types.Resource, size)
		for _, l := range layers {
			for name, m := range l.items[k] {
				merged.items[k][name] = m
			}
		}
		versions[k] = hex.EncodeToString(h.Sum(nil)[:8])
		merged.version[k] = versions[k]
	}
	return merged, versions
}
