// Package migrations holds the database schema as numbered SQL files,
// NNN_name.up.sql and NNN_name.down.sql, applied in order by internal/migrate
// (the `migrate` subcommand, or at start under an advisory lock).
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
