package netnsutil

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{Config{}, ""},
		{Config{NetNS: "/run/netns/a"}, ""},
		{Config{RootPath: "/host/proc"}, ""},
		{Config{NetNS: "/run/netns/a", RootPath: "/host/proc"}, "netns and root_path: set at most one"},
		{Config{NetNS: "a"}, `netns: "a" is not an absolute path`},
		{Config{RootPath: "host/proc"}, `root_path: "host/proc" is not an absolute path`},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestConfigLabel(t *testing.T) {
	for cfg, want := range map[Config]string{
		{}:                         OwnNamespace,
		{NetNS: "/run/netns/a"}:    "/run/netns/a",
		{RootPath: "/nonexistent"}: "/nonexistent/1/net",
	} {
		if got := cfg.Label(); got != want {
			t.Errorf("%+v: label %q, want %q", cfg, got, want)
		}
	}
}
