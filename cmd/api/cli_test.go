package main

import (
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	for _, c := range []struct {
		args []string
		help bool
		msg  string
	}{
		{nil, false, ""},
		{[]string{"-h"}, true, ""},
		{[]string{"--help"}, true, ""},
		{[]string{"migrate"}, false, "persister migrate up"},
		{[]string{"serve"}, false, `unexpected argument "serve"`},
	} {
		help, msg := parseArgs(c.args)
		if help != c.help || (c.msg == "") != (msg == "") || !strings.Contains(msg, c.msg) {
			t.Errorf("parseArgs(%q) = %v, %q", c.args, help, msg)
		}
	}
	var b strings.Builder
	printUsage(&b)
	for _, v := range []string{"ADDR", "WORKFLOW_REPO_MODE", "CODE_EXECUTION_ENDPOINT", "TOOLS_FILE", "RECORDS_RETENTION"} {
		if !strings.Contains(b.String(), "\n  "+v+" ") {
			t.Errorf("usage does not list %s", v)
		}
	}
}
