// Package pgerr is the one place that knows PostgreSQL's error codes and
// pgx's connection errors: it sorts an error into a Kind, which each
// store turns into its own sentinel errors.
package pgerr

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Kind is what an error means to a store.
type Kind int

// The kinds of errors.
const (
	// Other is any error not below (nil included).
	Other Kind = iota
	// NoRows is pgx.ErrNoRows: what was asked for is not there.
	NoRows
	// Canceled is the context's cancellation or deadline.
	Canceled
	// Unique is a unique_violation (23505): a key already in use.
	Unique
	// ForeignKey is a foreign_key_violation (23503): what a row refers to
	// is gone.
	ForeignKey
	// BadValue is a data exception (class 22), e.g. a NUL in text.
	BadValue
	// Unavailable is a server that cannot be reached or is going away:
	// connection failures, too many connections, shutdowns.
	Unavailable
	// Retry is a deadlock (40P01) or a serialization failure (40001): the
	// transaction lost a race and may be run again.
	Retry
)

// Classify returns err's kind.
func Classify(err error) Kind {
	switch {
	case err == nil:
		return Other
	case errors.Is(err, pgx.ErrNoRows):
		return NoRows
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return Canceled
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return Unique
		case pgErr.Code == "23503":
			return ForeignKey
		case strings.HasPrefix(pgErr.Code, "22"):
			return BadValue
		case pgErr.Code == "40P01", pgErr.Code == "40001":
			return Retry
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "53300", // too_many_connections
			pgErr.Code == "57P01", // admin_shutdown
			pgErr.Code == "57P02", // crash_shutdown
			pgErr.Code == "57P03": // cannot_connect_now
			return Unavailable
		}
		return Other
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) {
		return Unavailable
	}
	return Other
}

// Constraint returns the constraint a PostgreSQL error names, if any.
func Constraint(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName
	}
	return ""
}
