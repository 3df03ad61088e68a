package sql_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/repo"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

var _ repo.FileStore = (*reposql.Files)(nil)

// TestFilesRoundTrip: a file of several chunks reads back whole, only in
// its app; a reader that fails stores nothing; retention deletes by age.
func TestFilesRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := reposql.NewFiles(dbtest.Pool(t))
	data := bytes.Repeat([]byte("0123456789abcdef"), (2*reposql.ChunkSize+1000)/16)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	u := &repo.Upload{ID: uuid.NewString(), AppID: "app-a", EndUserID: "eu", User: "u\x00", Name: "big.txt", Extension: "txt", MimeType: "text/plain", CreatedAt: created}
	if err := f.Put(ctx, u, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if u.Size != int64(len(data)) {
		t.Fatalf("size %d", u.Size)
	}
	got, rc, err := f.Open(ctx, "app-a", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(body, data) {
		t.Fatalf("read %d bytes, %v", len(body), err)
	}
	if got.Name != "big.txt" || got.EndUserID != "eu" || got.User != "u\uFFFD" || !got.CreatedAt.Equal(created) || got.Size != u.Size {
		t.Fatalf("record %+v", got)
	}
	for _, c := range []struct{ app, id string }{{"app-b", u.ID}, {"", u.ID}, {"app-a", "not-a-uuid"}, {"app-a", uuid.NewString()}} {
		if _, err := f.Get(ctx, c.app, c.id); !errors.Is(err, repo.ErrNotFound) {
			t.Errorf("Get(%q, %q): %v, want ErrNotFound", c.app, c.id, err)
		}
	}

	boom := errors.New("client went away")
	bad := &repo.Upload{ID: uuid.NewString(), AppID: "app-a", Name: "x", CreatedAt: created}
	err = f.Put(ctx, bad, io.MultiReader(bytes.NewReader(make([]byte, reposql.ChunkSize+1)), errReader{boom}))
	if !errors.Is(err, boom) || errors.Is(err, repo.ErrUnavailable) {
		t.Fatalf("failed reader: %v", err)
	}
	if _, err := f.Get(ctx, "app-a", bad.ID); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("half an upload stored: %v", err)
	}
	empty := &repo.Upload{ID: uuid.NewString(), AppID: "app-a", Name: "e", CreatedAt: created.Add(time.Hour)}
	if err := f.Put(ctx, empty, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if _, rc, err := f.Open(ctx, "app-a", empty.ID); err != nil {
		t.Fatal(err)
	} else if b, err := io.ReadAll(rc); err != nil || len(b) != 0 {
		t.Fatalf("empty file: %q %v", b, err)
	}
	n, err := f.DeleteBefore(ctx, created.Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteBefore = %d, %v", n, err)
	}
	if _, err := f.Get(ctx, "app-a", u.ID); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("expired upload still there: %v", err)
	}
	if _, err := f.Get(ctx, "app-a", empty.ID); err != nil {
		t.Fatalf("a newer upload went: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
