package main

import (
	"fmt"
	"io"

	"github.com/flowrun/flowrun/internal/cli"
)

// usageHead is the start of `api -h`; the settings follow.
const usageHead = `usage: api

Serves the Dify apps of APPS_DIR (memory mode), or of PostgreSQL (sync and
async modes), over Dify's service API until SIGINT or SIGTERM. It takes no
arguments: every setting is an environment variable, read once at start and
explained in the README's configuration table. Database migrations are run
by "persister migrate up", or at start with MIGRATE_ON_START=true.

Settings (variable, type, default):
`

// parseArgs reads the command line: help is -h or one of its spellings;
// any argument else is a problem, explained by msg.
func parseArgs(args []string) (help bool, msg string) {
	switch {
	case len(args) == 0:
		return false, ""
	case cli.IsHelp(args[0]):
		return true, ""
	case args[0] == "migrate":
		return false, `api takes no command: run migrations with "persister migrate up", or set MIGRATE_ON_START=true`
	}
	return false, fmt.Sprintf("unexpected argument %q: the api takes none", args[0])
}

// printUsage writes the usage with every setting the api reads.
func printUsage(w io.Writer) { cli.Usage(w, usageHead, &config{}) }
