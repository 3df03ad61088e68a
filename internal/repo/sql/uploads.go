package sql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/flowrun/flowrun/internal/repo"
)

// ChunkSize is the most bytes of an upload one row of upload_chunks
// holds: what Put buffers and what a reader fetches per query.
const ChunkSize = 1 << 20

// Files is a repo.FileStore on PostgreSQL (migrations/008_uploads), so
// that every replica reads a file uploaded to any other.
type Files struct {
	db DB
}

var _ repo.FileStore = (*Files)(nil)

// NewFiles returns the file store of db.
func NewFiles(db DB) *Files { return &Files{db: db} }

// Put implements repo.FileStore: the chunks and the record are written
// in one transaction, a chunk at a time as r delivers them.
func (f *Files) Put(ctx context.Context, u *repo.Upload, r io.Reader) (err error) {
	if u.AppID == "" {
		return fmt.Errorf("%w: upload without app id", repo.ErrInvalid)
	}
	if _, perr := uuid.Parse(u.ID); perr != nil {
		return fmt.Errorf("%w: upload id %q is not a UUID", repo.ErrInvalid, u.ID)
	}
	tx, err := f.db.Begin(ctx)
	if err != nil {
		return interpretError(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	buf := make([]byte, ChunkSize)
	var size int64
	for seq := 0; ; seq++ {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO upload_chunks (upload_id, seq, data) VALUES ($1, $2, $3)`, u.ID, seq, buf[:n]); err != nil {
				return interpretError(err)
			}
			size += int64(n)
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			// The reader's error, not the database's: never ErrUnavailable.
			return fmt.Errorf("reading upload: %w", rerr)
		}
	}
	u.Size = size
	if _, err := tx.Exec(ctx, `INSERT INTO uploads (id, app_id, end_user_id, session_id, name, extension, mime_type, size, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.ID, u.AppID, u.EndUserID, sanitizeText(u.User), sanitizeText(u.Name), sanitizeText(u.Extension), sanitizeText(u.MimeType), size, u.CreatedAt); err != nil {
		return interpretError(err)
	}
	return interpretError(tx.Commit(ctx))
}

// Get implements repo.FileStore.
func (f *Files) Get(ctx context.Context, appID, id string) (*repo.Upload, error) {
	if _, err := uuid.Parse(id); err != nil || appID == "" {
		return nil, fmt.Errorf("%w: upload %q", repo.ErrNotFound, id)
	}
	u := &repo.Upload{}
	err := f.db.QueryRow(ctx, `SELECT id::text, app_id, end_user_id, session_id, name, extension, mime_type, size, created_at
		FROM uploads WHERE id = $1 AND app_id = $2`, id, appID).
		Scan(&u.ID, &u.AppID, &u.EndUserID, &u.User, &u.Name, &u.Extension, &u.MimeType, &u.Size, &u.CreatedAt)
	if err != nil {
		return nil, interpretError(err)
	}
	return u, nil
}

// Open implements repo.FileStore. The reader fetches one chunk per
// query, with no connection held between reads.
func (f *Files) Open(ctx context.Context, appID, id string) (*repo.Upload, io.ReadCloser, error) {
	u, err := f.Get(ctx, appID, id)
	if err != nil {
		return nil, nil, err
	}
	return u, &chunkReader{ctx: ctx, db: f.db, id: u.ID, left: u.Size}, nil
}

// DeleteBefore implements repo.FileStore.
func (f *Files) DeleteBefore(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := f.db.QueryRow(ctx, `WITH d AS (DELETE FROM uploads WHERE created_at < $1 RETURNING 1) SELECT count(*) FROM d`, t).Scan(&n)
	return n, interpretError(err)
}

// chunkReader reads an upload's chunks in order.
type chunkReader struct {
	ctx  context.Context
	db   DB
	id   string
	seq  int
	left int64 // bytes not yet fetched
	buf  []byte
}

// Read implements io.Reader.
func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.buf) == 0 {
		if c.left <= 0 {
			return 0, io.EOF
		}
		err := c.db.QueryRow(c.ctx, `SELECT data FROM upload_chunks WHERE upload_id = $1 AND seq = $2`, c.id, c.seq).Scan(&c.buf)
		if errors.Is(err, pgx.ErrNoRows) {
			// Deleted (retention) while it was read.
			return 0, fmt.Errorf("upload %s: chunk %d: %w", c.id, c.seq, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return 0, interpretError(err)
		}
		c.seq++
		c.left -= int64(len(c.buf))
		if len(c.buf) == 0 {
			return 0, fmt.Errorf("upload %s: empty chunk %d: %w", c.id, c.seq-1, io.ErrUnexpectedEOF)
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// Close implements io.Closer.
func (c *chunkReader) Close() error {
	c.buf, c.left = nil, 0
	return nil
}
