// Package sharedcomponent lets one component ID in several pipelines of
// different signals (a receiver in a metrics and in a logs pipeline) be one
// instance: the factory's create functions look it up by its configuration,
// Start runs once, and Shutdown runs when the last user shuts down. It plays
// the role of the Collector's and contrib's internal sharedcomponent
// packages, which cannot be imported.
package sharedcomponent // import "github.com/netstack-otel/netstack/internal/sharedcomponent"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Map holds the shared instances by key (the component's *Config).
type Map[K comparable, V component.Component] struct {
	mu sync.Mutex
	m  map[K]*Component[V]
}

// LoadOrStore returns the instance for key, creating it with create the
// first time; each call counts one user that must call Shutdown.
func (m *Map[K, V]) LoadOrStore(key K, create func() (V, error)) (*Component[V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.m[key]; ok {
		c.users++
		return c, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	if m.m == nil {
		m.m = map[K]*Component[V]{}
	}
	c := &Component[V]{Unwrap: v, users: 1}
	c.remove = func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.m, key)
	}
	m.m[key] = c
	return c, nil
}

// Component is one shared instance.
type Component[V component.Component] struct {
	// Unwrap is the instance itself, for the create functions to attach a
	// signal's consumer before Start.
	Unwrap V

	mu       sync.Mutex
	users    int
	started  bool
	startErr error
	remove   func()
}

// Start starts the instance on the first call and returns that call's
// result on every later one.
func (c *Component[V]) Start(ctx context.Context, host component.Host) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		c.started = true
		c.startErr = c.Unwrap.Start(ctx, host)
	}
	return c.startErr
}

// Shutdown counts one user gone; the last one shuts the instance down and
// forgets it, so a later create (a reloaded configuration) gets a new one.
func (c *Component[V]) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users--
	if c.users > 0 {
		return nil
	}
	c.remove()
	c.started = false
	return c.Unwrap.Shutdown(ctx)
}
