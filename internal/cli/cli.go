// Package cli holds what the binaries share on their command line: the
// usage text, which lists the environment variables a configuration struct
// reads, and hints for errors a newcomer meets first.
package cli

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"
)

// IsHelp reports whether arg asks for the usage.
func IsHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// Usage writes head, then every variable spec (a pointer to an envconfig
// struct) reads, with its type and default.
func Usage(w io.Writer, head string, spec any) {
	fmt.Fprint(w, head)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	_ = envconfig.Usagef("", spec, tw,
		"{{range .}}  {{if .Alt}}{{.Alt}}{{else}}{{.Key}}{{end}}\t{{usage_type .}}\t{{usage_default .}}\n{{end}}")
	tw.Flush()
}

// ListenHint wraps the error of a listener on addr, set by the variable
// name, with what to do about it.
func ListenHint(err error, name, addr string) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s: %w (another process uses this address: stop it, or set %s to another one)", addr, err, name)
	}
	return fmt.Errorf("listen on %s: %w (set %s to a host:port this process may bind)", addr, err, name)
}

// ErrConfig is wrapped by the errors of Config.
var ErrConfig = errors.New("configuration")

// Config reads spec (a pointer to an envconfig struct) from the
// environment, and words its errors for someone who has just set the
// variables: which variable, what was wrong with it, where to look.
func Config(spec any) error {
	err := envconfig.Process("", spec)
	if err == nil {
		return nil
	}
	var perr *envconfig.ParseError
	if errors.As(err, &perr) {
		return fmt.Errorf("%w: %s=%q is not a valid %s (%v); -h lists every setting", ErrConfig, perr.KeyName, perr.Value, perr.TypeName, perr.Err)
	}
	var key string
	if _, scanErr := fmt.Sscanf(err.Error(), "required key %s missing value", &key); scanErr == nil {
		return fmt.Errorf("%w: %s is required and not set; -h lists every setting", ErrConfig, key)
	}
	return fmt.Errorf("%w: %v", ErrConfig, err)
}
