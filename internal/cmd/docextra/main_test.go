package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInsertBeforeOptional(t *testing.T) {
	doc := "# x\n\n## Default Metrics\n\n### a\n\n## Optional Metrics\n\n### b\n\n## Resource Attributes\n"
	out, err := insert([]byte(doc), []byte("### h\n\nhist\n"))
	require.NoError(t, err)
	want := "# x\n\n## Default Metrics\n\n### a\n\n### h\n\nhist\n\n## Optional Metrics\n\n### b\n\n## Resource Attributes\n"
	require.Equal(t, want, string(out))
	again, err := insert(out, []byte("### h\n\nhist\n"))
	require.NoError(t, err)
	require.Equal(t, want, string(again), "a second run changes nothing")
}

func TestInsertBeforeResourceAttributes(t *testing.T) {
	out, err := insert([]byte("### a\n\n## Resource Attributes\n"), []byte("### h\n"))
	require.NoError(t, err)
	require.Equal(t, "### a\n\n### h\n\n## Resource Attributes\n", string(out))
}

func TestInsertAppends(t *testing.T) {
	out, err := insert([]byte("### a\n"), []byte("### h\n"))
	require.NoError(t, err)
	require.Equal(t, "### a\n\n### h\n\n", string(out))
}

func TestInsertSectionAtEnd(t *testing.T) {
	out, err := insert([]byte("### a\n\n## Resource Attributes\n\n### r\n"), []byte("## Events\n\n### e\n"))
	require.NoError(t, err)
	require.Equal(t, "### a\n\n## Resource Attributes\n\n### r\n\n## Events\n\n### e\n\n", string(out))
}

func TestInsertEmpty(t *testing.T) {
	_, err := insert([]byte("### a\n"), []byte(" \n"))
	require.ErrorContains(t, err, "empty")
}

// insert never panics, keeps every byte of doc and extra, and is idempotent.
func FuzzInsert(f *testing.F) {
	f.Add("# x\n\n## Optional Metrics\n", "### h\n")
	f.Add("## Resource Attributes\n## Optional Metrics\n", "x")
	f.Add("", "\n")
	f.Add("## Resource Attributes\n", "## Events\n")
	f.Fuzz(func(t *testing.T, doc, extra string) {
		out, err := insert([]byte(doc), []byte(extra))
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, len(out), len(doc))
		again, err := insert(out, []byte(extra))
		require.NoError(t, err)
		require.Equal(t, string(out), string(again))
	})
}
