package cli

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Endpoint string `envconfig:"CLI_TEST_ENDPOINT"`
}

type spec struct {
	Addr    string        `envconfig:"CLI_TEST_ADDR" default:"127.0.0.1:1"`
	URL     string        `envconfig:"CLI_TEST_URL" required:"true"`
	Timeout time.Duration `envconfig:"CLI_TEST_TIMEOUT" default:"1s"`
	Inner   inner
}

func TestUsageListsEveryVariable(t *testing.T) {
	var b strings.Builder
	Usage(&b, "head\n", &spec{})
	out := b.String()
	for _, want := range []string{"head\n", "CLI_TEST_ADDR", "127.0.0.1:1", "CLI_TEST_URL", "CLI_TEST_TIMEOUT", "\n  CLI_TEST_ENDPOINT"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "INNER_") {
		t.Errorf("usage names a nested variable by its prefixed key, which nobody sets:\n%s", out)
	}
}

func TestConfigErrors(t *testing.T) {
	var s spec
	err := Config(&s)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "CLI_TEST_URL is required and not set") {
		t.Errorf("missing variable: %v", err)
	}
	t.Setenv("CLI_TEST_URL", "postgres://x")
	t.Setenv("CLI_TEST_TIMEOUT", "soon")
	err = Config(&s)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `CLI_TEST_TIMEOUT="soon" is not a valid time.Duration`) {
		t.Errorf("bad value: %v", err)
	}
	t.Setenv("CLI_TEST_TIMEOUT", "2s")
	if err := Config(&s); err != nil || s.Timeout != 2*time.Second || s.URL != "postgres://x" {
		t.Errorf("good values: %+v, %v", s, err)
	}
}

func TestListenHint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = net.Listen("tcp", ln.Addr().String())
	if err == nil {
		t.Fatal("second listener on the same address succeeded")
	}
	if got := ListenHint(err, "ADDR", ln.Addr().String()).Error(); !strings.Contains(got, "set ADDR to another one") {
		t.Errorf("hint: %s", got)
	}
}

func TestIsHelp(t *testing.T) {
	for arg, want := range map[string]bool{"-h": true, "--help": true, "-help": true, "help": true, "migrate": false, "": false} {
		if IsHelp(arg) != want {
			t.Errorf("IsHelp(%q) = %v", arg, !want)
		}
	}
}
