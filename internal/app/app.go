// Package app holds the workflow apps flowrun serves and their API keys.
//
// An app is a compiled workflow plus the keys that select it: a service API
// request's "Authorization: Bearer app-…" header names exactly one app.
// Apps live behind the Store interface. Memory keeps them in process (memory
// mode); Postgres keeps them in PostgreSQL and serves them from memory,
// with changes propagated between replicas by LISTEN/NOTIFY. Both keep keys
// only as SHA-256 digests. LoadDir fills a store from a directory of DSL
// files and an apps.yaml index; Postgres.SeedFrom imports such a directory
// into an empty database once.
package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/run"
)

// Sentinel errors returned by Store implementations. Check them with
// errors.Is.
var (
	// ErrNotFound means no app (or key) matches.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a key is already assigned to an app.
	ErrConflict = errors.New("conflict")
	// ErrInvalid means an id, key or document is malformed.
	ErrInvalid = errors.New("invalid")
)

// App is a runnable workflow app. Apps are immutable once stored: replacing
// an app stores a new *App, so a run that already holds the old one finishes
// with the workflow it started with.
type App struct {
	// ID is the app id (a UUID), reported as sys.app_id.
	ID string
	// WorkflowID is the id of the app's (single, published) workflow
	// version, a UUID; POST /workflows/{workflow_id}/run must name it.
	WorkflowID string
	// Name, Description and Mode come from the DSL's app section unless
	// overridden in apps.yaml.
	Name        string
	Description string
	Mode        string
	// Tags and AuthorName are served by GET /info.
	Tags       []string
	AuthorName string
	// Workflow is the compiled workflow.
	Workflow *run.Workflow
	// DSL is the source document, kept for export.
	DSL []byte
	// UpdatedAt is when the app was stored.
	UpdatedAt time.Time
}

// KeyInfo describes an API key without revealing it.
type KeyInfo struct {
	// ID identifies the key for removal: the first 16 hex digits of its
	// SHA-256.
	ID        string
	CreatedAt time.Time
}

// Store holds apps and their API keys. Implementations are safe for
// concurrent use.
type Store interface {
	// Authenticate returns the app that key belongs to. Returns
	// ErrNotFound if no app has the key.
	Authenticate(ctx context.Context, key string) (*App, error)
	// Get returns the app with id. Returns ErrNotFound if there is none.
	Get(ctx context.Context, id string) (*App, error)
	// List returns every app, ordered by name then id.
	List(ctx context.Context) ([]*App, error)
	// Put creates or replaces the app with a.ID, keeping its keys. It
	// reports whether the app was created. Returns ErrInvalid if a has no
	// valid ID or WorkflowID or no Workflow.
	Put(ctx context.Context, a *App) (created bool, err error)
	// Delete removes an app and its keys. Returns ErrNotFound if there is
	// no such app.
	Delete(ctx context.Context, id string) error
	// AddKey gives key to app appID. Returns ErrNotFound for an unknown
	// app, ErrConflict if the key already belongs to an app and ErrInvalid
	// for a malformed key.
	AddKey(ctx context.Context, appID, key string) (KeyInfo, error)
	// RemoveKey removes the key with keyID (see KeyInfo.ID) from app
	// appID. Returns ErrNotFound if the app has no such key.
	RemoveKey(ctx context.Context, appID, keyID string) error
	// Keys lists an app's keys, oldest first. Returns ErrNotFound for an
	// unknown app.
	Keys(ctx context.Context, appID string) ([]KeyInfo, error)
}

// Compiler turns DSL bytes into a workflow; *run.Engine implements it.
type Compiler interface {
	Compile(data []byte) (*run.Workflow, error)
}

// New compiles dsl into an app with the given ids. Errors wrap ErrInvalid
// (bad ids) or run.ErrInvalidDSL (bad document).
func New(c Compiler, id, workflowID string, dsl []byte) (*App, error) {
	if err := CheckID("app id", id); err != nil {
		return nil, err
	}
	if err := CheckID("workflow id", workflowID); err != nil {
		return nil, err
	}
	wf, err := c.Compile(dsl)
	if err != nil {
		return nil, err
	}
	return &App{
		ID:          id,
		WorkflowID:  workflowID,
		Name:        wf.Doc.App.Name,
		Description: wf.Doc.App.Description,
		Mode:        wf.Doc.App.Mode,
		Tags:        []string{},
		Workflow:    wf,
		DSL:         dsl,
	}, nil
}

// CheckID reports an error wrapping ErrInvalid unless id is a UUID in its
// canonical 36-character form.
func CheckID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%w: %s is missing", ErrInvalid, what)
	}
	if len(id) != 36 {
		return fmt.Errorf("%w: %s %q is not a UUID", ErrInvalid, what, run.Clip(id))
	}
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("%w: %s %q is not a UUID", ErrInvalid, what, id)
	}
	return nil
}

// KeyPrefix starts every app API key, as in Dify.
const KeyPrefix = "app-"

// CheckKey reports an error wrapping ErrInvalid unless key looks like an
// app API key: "app-" followed by at least 8 printable ASCII characters
// without spaces.
func CheckKey(key string) error {
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok || len(rest) < 8 || len(key) > 256 {
		return fmt.Errorf("%w: an API key is %q followed by 8 to 252 characters", ErrInvalid, KeyPrefix)
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] <= ' ' || rest[i] > '~' {
			return fmt.Errorf("%w: API keys are printable ASCII without spaces", ErrInvalid)
		}
	}
	return nil
}

// NewKey returns a fresh random API key: "app-" and 24 base-62 characters
// (about 143 bits).
func NewKey() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 24)
	out := make([]byte, 0, len(KeyPrefix)+len(b))
	out = append(out, KeyPrefix...)
	for len(out) < cap(out) {
		_, _ = rand.Read(b) // never fails (crypto/rand.Read panics instead)
		for _, c := range b {
			// 248 = 4*62: reject the tail to keep the distribution uniform.
			if c < 248 && len(out) < cap(out) {
				out = append(out, alphabet[c%62])
			}
		}
	}
	return string(out)
}

// hashKey is what stores keep instead of the key itself.
func hashKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

func keyID(h [32]byte) string { return hex.EncodeToString(h[:8]) }
