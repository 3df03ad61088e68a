package pgerr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("write: %w", &pgconn.PgError{Code: code}) }
	for err, want := range map[error]Kind{
		nil:                    Other,
		errors.New("x"):        Other,
		pgx.ErrNoRows:          NoRows,
		context.Canceled:       Canceled,
		pg("23505"):            Unique,
		pg("23503"):            ForeignKey,
		pg("22P05"):            BadValue,
		pg("40P01"):            Retry,
		pg("40001"):            Retry,
		pg("08006"):            Unavailable,
		pg("57P01"):            Unavailable,
		pg("42P01"):            Other,
		io.ErrUnexpectedEOF:    Unavailable,
		&pgconn.ConnectError{}: Unavailable,
	} {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v) = %d, want %d", err, got, want)
		}
	}
	if c := Constraint(fmt.Errorf("x: %w", &pgconn.PgError{Code: "23505", ConstraintName: "t_pkey"})); c != "t_pkey" {
		t.Errorf("Constraint = %q", c)
	}
}
