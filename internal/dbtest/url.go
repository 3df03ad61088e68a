package dbtest

import (
	"net/url"
	"testing"
)

// SchemaURL is Schema for a program that takes a database URL: it returns
// TEST_DATABASE_URL pointed at a fresh schema of this test's own, dropped
// when the test ends.
func SchemaURL(t testing.TB) string {
	t.Helper()
	name, _ := Schema(t)
	return WithSearchPath(t, URL(t), name)
}

// WithSearchPath returns the database URL raw with its search_path set to
// schema.
func WithSearchPath(t testing.TB, raw, schema string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
