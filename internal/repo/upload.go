package repo

import (
	"context"
	"io"
	"time"
)

// Upload is a file uploaded through POST /files/upload (the columns of
// Dify's upload_files that flowrun keeps). An upload belongs to one app:
// every lookup names the app, and another app's upload is not found.
type Upload struct {
	// ID is the upload id, a UUID (the File value's related_id).
	ID string
	// AppID is the app the upload was made through.
	AppID string
	// EndUserID is the stable id of (app, user), reported as created_by.
	EndUserID string
	// User is the API's `user` argument of the upload.
	User string
	// Name is the file name, cut to 200 characters as Dify does.
	Name string
	// Extension is lower-case, without the dot ("pdf").
	Extension string
	// MimeType is the media type the client gave the multipart part.
	MimeType string
	// Size is the byte count, set by FileStore.Put.
	Size int64
	// CreatedAt is when the upload was received.
	CreatedAt time.Time
}

// FileStore keeps uploaded files: their record and their bytes.
// Implementations are safe for concurrent use and stream both ways: no
// implementation holds a whole file in memory.
type FileStore interface {
	// Put reads r to EOF and stores its bytes with u. It reads u only
	// once r has returned io.EOF, so a caller may still complete u
	// (its owner, say) while the bytes stream; it sets u.Size. Nothing
	// is stored if r fails: its error is returned, wrapped. Returns
	// ErrInvalid if u.ID or u.AppID is empty, ErrTooLarge if the store
	// cannot make room for the file, ErrUnavailable if the store cannot
	// be reached.
	Put(ctx context.Context, u *Upload, r io.Reader) error
	// Open returns the upload id of app appID and a reader of its bytes,
	// which the caller closes. Returns ErrNotFound if the app has no
	// such upload (also when it expired or another app made it), and
	// ErrUnavailable if the store cannot be reached.
	Open(ctx context.Context, appID, id string) (*Upload, io.ReadCloser, error)
	// Get returns the record of upload id of app appID, as Open does
	// without the bytes.
	Get(ctx context.Context, appID, id string) (*Upload, error)
	// DeleteBefore deletes the uploads created before t and returns how
	// many it deleted (retention).
	DeleteBefore(ctx context.Context, t time.Time) (int, error)
}
