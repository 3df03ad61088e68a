package disk_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/disk"
)

type bundle struct {
	store *disk.Store
	dir   string
	now   time.Time
}

func setup(t *testing.T, maxBytes int64) *bundle {
	t.Helper()
	b := &bundle{dir: t.TempDir(), now: time.Unix(1739000000, 0)}
	s, err := disk.New(disk.Config{Dir: b.dir, MaxBytes: maxBytes, TTL: time.Hour, Clock: func() time.Time { return b.now }})
	if err != nil {
		t.Fatal(err)
	}
	b.store = s
	return b
}

func (b *bundle) put(t *testing.T, app string, data []byte) *repo.Upload {
	t.Helper()
	u := &repo.Upload{ID: uuid.NewString(), AppID: app, Name: "f.txt", CreatedAt: b.now}
	if err := b.store.Put(context.Background(), u, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return u
}

func read(t *testing.T, s *disk.Store, app, id string) ([]byte, error) {
	t.Helper()
	_, rc, err := s.Open(context.Background(), app, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestPutOpenScopedByApp(t *testing.T) {
	t.Parallel()
	b := setup(t, 1<<20)
	u := b.put(t, "app-a", []byte("hello"))
	if u.Size != 5 {
		t.Fatalf("size %d", u.Size)
	}
	if got, err := read(t, b.store, "app-a", u.ID); err != nil || string(got) != "hello" {
		t.Fatalf("read %q %v", got, err)
	}
	for _, app := range []string{"app-b", ""} {
		if _, err := b.store.Get(context.Background(), app, u.ID); !errors.Is(err, repo.ErrNotFound) {
			t.Errorf("app %q: err %v, want ErrNotFound", app, err)
		}
		if _, err := read(t, b.store, app, u.ID); !errors.Is(err, repo.ErrNotFound) {
			t.Errorf("app %q: open err %v, want ErrNotFound", app, err)
		}
	}
	if err := b.store.Put(context.Background(), &repo.Upload{ID: "../../x", AppID: "a"}, strings.NewReader("x")); !errors.Is(err, repo.ErrInvalid) {
		t.Errorf("forged id: %v", err)
	}
}

// TestFullEvictsOldest: when the cap is reached the oldest files go; a
// file bigger than the cap is refused and leaves nothing behind.
func TestFullEvictsOldest(t *testing.T) {
	t.Parallel()
	b := setup(t, 100)
	first := b.put(t, "a", bytes.Repeat([]byte("1"), 60))
	b.now = b.now.Add(time.Second)
	second := b.put(t, "a", bytes.Repeat([]byte("2"), 30))
	third := b.put(t, "a", bytes.Repeat([]byte("3"), 50))
	if _, err := b.store.Get(context.Background(), "a", first.ID); !errors.Is(err, repo.ErrNotFound) {
		t.Errorf("the oldest file survived: %v", err)
	}
	for _, u := range []*repo.Upload{second, third} {
		if _, err := b.store.Get(context.Background(), "a", u.ID); err != nil {
			t.Errorf("a newer file went: %v", err)
		}
	}
	if used := b.store.Used(); used != 80 {
		t.Errorf("used %d, want 80", used)
	}
	err := b.store.Put(context.Background(), &repo.Upload{ID: uuid.NewString(), AppID: "a"}, bytes.NewReader(make([]byte, 101)))
	if !errors.Is(err, repo.ErrTooLarge) {
		t.Fatalf("file over the cap: %v", err)
	}
	if used := b.store.Used(); used > 100 {
		t.Errorf("used %d after a refused file", used)
	}
	if files, _ := filepath.Glob(filepath.Join(b.dir, "*")); len(files) != int(countLive(t, b)) {
		t.Errorf("%d files on disk", len(files))
	}
}

func countLive(t *testing.T, b *bundle) int64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(b.dir, "*.upload"))
	return int64(len(files))
}

// TestTTL: an expired file is not served and DeleteBefore removes it.
func TestTTL(t *testing.T) {
	t.Parallel()
	b := setup(t, 1<<20)
	old := b.put(t, "a", []byte("old"))
	b.now = b.now.Add(30 * time.Minute)
	fresh := b.put(t, "a", []byte("fresh"))
	b.now = b.now.Add(31 * time.Minute)
	if _, err := b.store.Get(context.Background(), "a", old.ID); !errors.Is(err, repo.ErrNotFound) {
		t.Errorf("expired file served: %v", err)
	}
	n, err := b.store.DeleteBefore(context.Background(), b.now)
	if err != nil || n != 1 {
		t.Fatalf("DeleteBefore = %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(b.dir, fresh.ID+".upload")); !os.IsNotExist(err) {
		t.Errorf("fresh file still on disk: %v", err)
	}
}

// TestReaderFailsNothingStored: an upload whose reader fails is not
// stored and gives its bytes back.
func TestReaderFailsNothingStored(t *testing.T) {
	t.Parallel()
	b := setup(t, 1<<20)
	boom := errors.New("client went away")
	u := &repo.Upload{ID: uuid.NewString(), AppID: "a"}
	err := b.store.Put(context.Background(), u, io.MultiReader(strings.NewReader("part"), errReader{boom}))
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if b.store.Used() != 0 || countLive(t, b) != 0 {
		t.Fatalf("a failed upload left %d bytes", b.store.Used())
	}
}

// TestNewClearsLeftovers: a restarted process finds an empty store.
func TestNewClearsLeftovers(t *testing.T) {
	t.Parallel()
	b := setup(t, 1<<20)
	b.put(t, "a", []byte("x"))
	keep := filepath.Join(b.dir, "not-ours.txt")
	os.WriteFile(keep, []byte("x"), 0o600)
	if _, err := disk.New(disk.Config{Dir: b.dir}); err != nil {
		t.Fatal(err)
	}
	if countLive(t, b) != 0 {
		t.Fatal("a previous process's upload survived")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("a file not of the store was deleted: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
