package sharedcomponent

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

type counting struct {
	starts, shutdowns int
	startErr          error
}

func (c *counting) Start(context.Context, component.Host) error { c.starts++; return c.startErr }
func (c *counting) Shutdown(context.Context) error              { c.shutdowns++; return nil }

func TestSharedLifecycle(t *testing.T) {
	var m Map[string, *counting]
	created := 0
	create := func() (*counting, error) { created++; return &counting{}, nil }
	a, err := m.LoadOrStore("cfg", create)
	require.NoError(t, err)
	b, err := m.LoadOrStore("cfg", create)
	require.NoError(t, err)
	require.Same(t, a, b)
	require.Equal(t, 1, created)
	other, err := m.LoadOrStore("other", create)
	require.NoError(t, err)
	require.NotSame(t, a, other)

	ctx, host := context.Background(), componenttest.NewNopHost()
	require.NoError(t, a.Start(ctx, host))
	require.NoError(t, b.Start(ctx, host))
	require.Equal(t, 1, a.Unwrap.starts, "started once")
	require.NoError(t, a.Shutdown(ctx))
	require.Zero(t, a.Unwrap.shutdowns, "still used by the other pipeline")
	require.NoError(t, b.Shutdown(ctx))
	require.Equal(t, 1, a.Unwrap.shutdowns, "the last user shuts it down")

	c, err := m.LoadOrStore("cfg", create)
	require.NoError(t, err)
	require.NotSame(t, a, c, "forgotten after shutdown")
	require.NoError(t, c.Shutdown(ctx), "shutdown without start")
	require.NoError(t, other.Shutdown(ctx))
}

func TestSharedErrors(t *testing.T) {
	var m Map[int, *counting]
	boom := errors.New("boom")
	_, err := m.LoadOrStore(1, func() (*counting, error) { return nil, boom })
	require.ErrorIs(t, err, boom)
	a, err := m.LoadOrStore(1, func() (*counting, error) { return &counting{startErr: boom}, nil })
	require.NoError(t, err)
	b, _ := m.LoadOrStore(1, nil)
	require.ErrorIs(t, a.Start(context.Background(), nil), boom)
	require.ErrorIs(t, b.Start(context.Background(), nil), boom, "every user sees the start error")
	require.Equal(t, 1, a.Unwrap.starts)
}
