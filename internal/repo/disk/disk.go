// Package disk is the repo.FileStore of memory mode: uploaded files live
// in one local directory, their records in memory, under a byte cap and a
// time to live.
//
// When a file would pass the cap, the oldest files are deleted to make
// room, a chunk at a time as the new file is written; a file bigger than
// the cap itself is refused with repo.ErrTooLarge. Expired files are
// deleted by DeleteBefore and whenever room is made, and are never
// served. The records live only as long as the process, so the directory
// is emptied of the store's files when the store is opened.
package disk

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/repo"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxBytes = 1 << 30
	DefaultTTL      = 24 * time.Hour
)

// copyBuffer is how many bytes Put reads before it writes them.
const copyBuffer = 256 << 10

// suffix marks the store's files in its directory.
const suffix = ".upload"

// Config configures a Store.
type Config struct {
	// Dir is the directory the files live in; it is created if missing.
	Dir string
	// MaxBytes caps the bytes of all files together (default 1 GiB).
	MaxBytes int64
	// TTL is how long a file is kept after its upload (default 24 h).
	TTL time.Duration
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
}

// Store is a repo.FileStore in a local directory.
type Store struct {
	cfg Config

	mu    sync.Mutex
	files map[string]*entry // by upload id
	order []*entry          // stored files, oldest first
	used  int64             // bytes on disk, including files being written
}

var _ repo.FileStore = (*Store)(nil)

// entry is a stored file.
type entry struct {
	u       repo.Upload
	removed bool
}

// New opens the store in cfg.Dir, deleting the files a previous process
// left there.
func New(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("disk: Config.Dir is required")
	}
	if cfg.MaxBytes < 0 || cfg.TTL < 0 {
		return nil, errors.New("disk: MaxBytes and TTL must not be negative")
	}
	cfg.MaxBytes = cmp.Or(cfg.MaxBytes, DefaultMaxBytes)
	cfg.TTL = cmp.Or(cfg.TTL, DefaultTTL)
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(cfg.Dir, "*"+suffix))
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return nil, fmt.Errorf("disk: removing a previous process's file: %w", err)
		}
	}
	return &Store{cfg: cfg, files: map[string]*entry{}}, nil
}

func (s *Store) path(id string) string { return filepath.Join(s.cfg.Dir, id+suffix) }

// Put implements repo.FileStore.
func (s *Store) Put(ctx context.Context, u *repo.Upload, r io.Reader) (err error) {
	if u.AppID == "" {
		return fmt.Errorf("%w: upload without app id", repo.ErrInvalid)
	}
	if _, perr := uuid.Parse(u.ID); perr != nil {
		return fmt.Errorf("%w: upload id %q is not a UUID", repo.ErrInvalid, u.ID)
	}
	f, err := os.OpenFile(s.path(u.ID), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	w := &reserver{s: s, f: f, ctx: ctx}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			s.release(w.n)
		}
	}()
	// Whole buffers: a multipart part delivers a few KiB per Read, and
	// each write reserves room under the lock and costs a system call.
	buf := make([]byte, copyBuffer)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("reading upload: %w", rerr)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	u.Size = w.n
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.cfg.Clock()
	}
	e := &entry{u: *u}
	s.mu.Lock()
	s.files[u.ID] = e
	s.order = append(s.order, e)
	s.mu.Unlock()
	return nil
}

// reserver writes to f once the store has room for the bytes.
type reserver struct {
	s   *Store
	f   *os.File
	ctx context.Context
	n   int64
}

// Write implements io.Writer.
func (w *reserver) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	if err := w.s.reserve(int64(len(p))); err != nil {
		return 0, err
	}
	w.n += int64(len(p))
	n, err := w.f.Write(p)
	if err != nil {
		return n, fmt.Errorf("disk: %w", err)
	}
	return n, nil
}

// reserve counts n more bytes, deleting expired files, then the oldest,
// until they fit under the cap.
func (s *Store) reserve(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.cfg.Clock().Add(-s.cfg.TTL))
	for s.used+n > s.cfg.MaxBytes && len(s.order) > 0 {
		s.removeLocked(s.order[0])
	}
	if s.used+n > s.cfg.MaxBytes {
		return fmt.Errorf("%w: the upload store holds at most %d bytes", repo.ErrTooLarge, s.cfg.MaxBytes)
	}
	s.used += n
	return nil
}

func (s *Store) release(n int64) {
	s.mu.Lock()
	s.used -= n
	s.mu.Unlock()
}

// removeLocked deletes e's file (a reader that has it open keeps reading).
func (s *Store) removeLocked(e *entry) {
	if e.removed {
		return
	}
	e.removed = true
	delete(s.files, e.u.ID)
	for i, o := range s.order {
		if o == e {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	s.used -= e.u.Size
	_ = os.Remove(s.path(e.u.ID))
}

// expireLocked deletes the files created before t.
func (s *Store) expireLocked(t time.Time) int {
	n := 0
	for len(s.order) > 0 && s.order[0].u.CreatedAt.Before(t) {
		s.removeLocked(s.order[0])
		n++
	}
	return n
}

// lookup returns the live entry of id in app appID.
func (s *Store) lookup(appID, id string) (repo.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.files[id]
	if !ok || e.u.AppID != appID || appID == "" {
		return repo.Upload{}, fmt.Errorf("%w: upload %q", repo.ErrNotFound, id)
	}
	if e.u.CreatedAt.Before(s.cfg.Clock().Add(-s.cfg.TTL)) {
		s.removeLocked(e)
		return repo.Upload{}, fmt.Errorf("%w: upload %q expired", repo.ErrNotFound, id)
	}
	return e.u, nil
}

// Get implements repo.FileStore.
func (s *Store) Get(_ context.Context, appID, id string) (*repo.Upload, error) {
	u, err := s.lookup(appID, id)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// Open implements repo.FileStore.
func (s *Store) Open(_ context.Context, appID, id string) (*repo.Upload, io.ReadCloser, error) {
	u, err := s.lookup(appID, id)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(s.path(id))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// Evicted between the lookup and the open.
			return nil, nil, fmt.Errorf("%w: upload %q", repo.ErrNotFound, id)
		}
		return nil, nil, fmt.Errorf("disk: %w", err)
	}
	return &u, f, nil
}

// DeleteBefore implements repo.FileStore. Files are kept in upload order,
// so it stops at the first one created at or after t.
func (s *Store) DeleteBefore(_ context.Context, t time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expireLocked(t), nil
}

// Used returns the bytes the store holds, files being written included.
func (s *Store) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}
