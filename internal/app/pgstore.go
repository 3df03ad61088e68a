package app

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/pgerr"
	"github.com/flowrun/flowrun/internal/startstop"
)

// NotifyChannel is the PostgreSQL channel on which Postgres stores announce
// changes. The payload is the id of the app that changed (its row, its keys,
// or both); any other payload asks listeners to reload every app.
const NotifyChannel = "flowrun_apps"

// reloadAllPayload is the payload SeedFrom sends: it is not an app id, so
// listeners reload everything.
const reloadAllPayload = "*"

// Defaults for PostgresConfig.
const (
	DefaultReloadInterval = 30 * time.Second
	DefaultRetryInterval  = time.Second
)

// PostgresConfig tunes a Postgres store. Zero values take the defaults.
type PostgresConfig struct {
	// ReloadInterval is how often every app is reloaded from the database
	// even without notifications: a safety net for notifications lost
	// while the listening connection was down (default 30 s).
	ReloadInterval time.Duration
	// RetryInterval is how long the listener waits before reconnecting
	// after it lost its connection (default 1 s).
	RetryInterval time.Duration
	// Logger receives load failures and connection trouble (default
	// slog.Default()). Keys are never logged, only their KeyInfo.ID.
	Logger *slog.Logger
	// Now stamps UpdatedAt and key creation times (default time.Now). The
	// database keeps microseconds, so stamps are truncated to them.
	Now func() time.Time
}

func (c PostgresConfig) withDefaults() PostgresConfig {
	c.ReloadInterval = cmp.Or(c.ReloadInterval, DefaultReloadInterval)
	c.RetryInterval = cmp.Or(c.RetryInterval, DefaultRetryInterval)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c PostgresConfig) validate() error {
	if c.ReloadInterval < 0 || c.RetryInterval < 0 {
		return fmt.Errorf("%w: app store intervals cannot be negative", ErrInvalid)
	}
	return nil
}

// Postgres is a Store kept in PostgreSQL (tables apps and api_keys, see
// package migrations) and served from memory.
//
// Reads (Authenticate, Get, List, Keys) never touch the database: they are
// answered by an in-memory cache, a Memory. Writes (Put, Delete, AddKey,
// RemoveKey) run in a transaction that also sends a NOTIFY on
// NotifyChannel (PostgreSQL delivers it when, and only if, the transaction
// commits); once committed, the write is applied to the local cache.
// Every store LISTENs on a dedicated connection, started by Start, and
// reloads the app a notification names, so a write on one replica reaches
// the others. After a reconnect, and every ReloadInterval, it reloads
// everything, in case notifications were lost.
//
// Keys are stored only as their SHA-256 digest, plus a short display prefix
// that reveals at most 4 characters of long keys (see displayPrefix).
//
// An app whose stored DSL does not compile (for example one written by a
// newer version) is not served: it is logged once, skipped, and reported
// by LoadErrors until it is fixed or deleted. Keys of a skipped app report
// ErrNotFound, like its Get; Put, Delete and AddKey act on its row.
type Postgres struct {
	pool  *pgxpool.Pool
	c     Compiler
	cfg   PostgresConfig
	cache *Memory

	// refresh serialises every database read or write that ends in a cache
	// update, so a reload that read older rows cannot overwrite a newer
	// local write.
	refresh sync.Mutex

	bmu    sync.Mutex
	broken map[string]*brokenApp

	life startstop.Base

	// reloaded, if set (tests), is called by the listener after it handled
	// a notification (with its payload) or a full reload ("").
	reloaded func(payload string)
}

// brokenApp is a stored app that could not be loaded.
type brokenApp struct {
	// row is the fingerprint of what failed (see fingerprint): the same
	// row fails the same way, so it is neither rebuilt nor logged again.
	row [32]byte
	err error
}

var _ Store = (*Postgres)(nil)

// NewPostgres returns a store on pool, whose schema must be migrated, that
// compiles stored DSL with c. Call Start before serving requests: until
// then the cache is empty.
func NewPostgres(pool *pgxpool.Pool, c Compiler, cfg PostgresConfig) (*Postgres, error) {
	if pool == nil || c == nil {
		return nil, fmt.Errorf("%w: app store needs a pool and a compiler", ErrInvalid)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Postgres{
		pool:   pool,
		c:      c,
		cfg:    cfg,
		cache:  NewMemory(cfg.Now),
		broken: map[string]*brokenApp{},
	}
	p.life.Name = "app store"
	return p, nil
}

// Start listens for changes, loads every app and starts the listener
// goroutine, which runs until Stop (ctx bounds the start-up only). It
// fails if the database cannot be reached or read; an app that does not
// compile is not an error (see LoadErrors). Starting twice is an error.
func (p *Postgres) Start(ctx context.Context) error {
	return p.life.Start(context.WithoutCancel(ctx), func(context.Context) error {
		// LISTEN before loading, so no change committed after the load is
		// missed.
		conn, err := p.listenConn(ctx)
		if err != nil {
			return err
		}
		if err := p.reloadAll(ctx); err != nil {
			_ = conn.Close(context.WithoutCancel(ctx))
			return err
		}
		p.life.Go(func(run context.Context) { p.listen(run, conn) })
		return nil
	})
}

// Stop stops the listener and closes its connection. It returns ctx's
// error if the listener did not stop in time. Stopping twice, or a store
// that was never started, is a no-op.
func (p *Postgres) Stop(ctx context.Context) error {
	return p.life.Stop(ctx)
}

// LoadError reports a stored app that is not served.
type LoadError struct {
	// AppID is the id of the app's row.
	AppID string
	// Err is why it did not load: a compile error (wrapping
	// run.ErrInvalidDSL) or a malformed id (wrapping ErrInvalid).
	Err error
}

// Error describes the app and the cause.
func (e *LoadError) Error() string { return fmt.Sprintf("app %s: %v", e.AppID, e.Err) }

// Unwrap returns the compile (or validation) error.
func (e *LoadError) Unwrap() error { return e.Err }

// LoadErrors returns the stored apps that are not served because they
// failed to load, ordered by app id; nil when every app loaded. A readiness
// check can report them.
func (p *Postgres) LoadErrors() []*LoadError {
	p.bmu.Lock()
	defer p.bmu.Unlock()
	var out []*LoadError
	for id, b := range p.broken {
		out = append(out, &LoadError{AppID: id, Err: b.err})
	}
	slices.SortFunc(out, func(a, b *LoadError) int { return strings.Compare(a.AppID, b.AppID) })
	return out
}

// Authenticate implements Store from memory.
func (p *Postgres) Authenticate(ctx context.Context, key string) (*App, error) {
	return p.cache.Authenticate(ctx, key)
}

// Get implements Store from memory.
func (p *Postgres) Get(ctx context.Context, id string) (*App, error) {
	return p.cache.Get(ctx, id)
}

// List implements Store from memory.
func (p *Postgres) List(ctx context.Context) ([]*App, error) { return p.cache.List(ctx) }

// Keys implements Store from memory.
func (p *Postgres) Keys(ctx context.Context, appID string) ([]KeyInfo, error) {
	return p.cache.Keys(ctx, appID)
}

func (p *Postgres) now() time.Time { return p.cfg.Now().Truncate(time.Microsecond) }

// Put implements Store. It also returns ErrInvalid if a has no DSL: the
// DSL is what other replicas, and later starts, compile.
func (p *Postgres) Put(ctx context.Context, a *App) (bool, error) {
	if err := CheckID("app id", a.ID); err != nil {
		return false, err
	}
	if err := CheckID("workflow id", a.WorkflowID); err != nil {
		return false, err
	}
	if a.Workflow == nil {
		return false, fmt.Errorf("%w: app %s has no workflow", ErrInvalid, a.ID)
	}
	if len(a.DSL) == 0 {
		return false, fmt.Errorf("%w: app %s has no DSL", ErrInvalid, a.ID)
	}
	c := *a
	c.UpdatedAt = p.now()
	c.Tags = slices.Clone(a.Tags)
	if c.Tags == nil {
		c.Tags = []string{}
	}
	c.DSL = bytes.Clone(a.DSL)

	p.refresh.Lock()
	defer p.refresh.Unlock()
	var created bool
	var keys []keyEntry
	err := p.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var err error
		if created, err = upsertApp(ctx, tx, &c); err != nil {
			return err
		}
		if keys, err = appKeys(ctx, tx, c.ID); err != nil {
			return err
		}
		return notify(ctx, tx, c.ID)
	})
	if err != nil {
		return false, fmt.Errorf("put app %s: %w", a.ID, err)
	}
	p.cache.replaceApp(c.ID, &c, keys)
	p.setBroken(c.ID, nil)
	return created, nil
}

// upsertApp inserts or updates a's row and reports whether it inserted.
func upsertApp(ctx context.Context, tx pgx.Tx, a *App) (bool, error) {
	args := []any{a.ID, a.WorkflowID, a.Name, a.Mode, a.Description, a.Tags, a.AuthorName, string(a.DSL), a.UpdatedAt}
	// A concurrent Delete can remove the row between the two statements;
	// then the insert is tried again.
	for range 3 {
		tag, err := tx.Exec(ctx, `INSERT INTO apps (id, workflow_id, name, mode, description, tags, author_name, dsl, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (id) DO NOTHING`, args...)
		if err != nil {
			return false, interpretError(err)
		}
		if tag.RowsAffected() == 1 {
			return true, nil
		}
		tag, err = tx.Exec(ctx, `UPDATE apps SET workflow_id = $2, name = $3, mode = $4, description = $5, tags = $6,
			author_name = $7, dsl = $8, updated_at = $9 WHERE id = $1`, args...)
		if err != nil {
			return false, interpretError(err)
		}
		if tag.RowsAffected() == 1 {
			return false, nil
		}
	}
	return false, errors.New("app row keeps changing under a concurrent writer")
}

// Delete implements Store.
func (p *Postgres) Delete(ctx context.Context, id string) error {
	p.refresh.Lock()
	defer p.refresh.Unlock()
	err := p.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM apps WHERE id = $1`, id)
		if err != nil {
			return interpretError(err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return notify(ctx, tx, id)
	})
	if err != nil {
		return fmt.Errorf("app %s: %w", id, err)
	}
	p.cache.replaceApp(id, nil, nil)
	p.setBroken(id, nil)
	return nil
}

// AddKey implements Store.
func (p *Postgres) AddKey(ctx context.Context, appID, key string) (KeyInfo, error) {
	if err := CheckKey(key); err != nil {
		return KeyInfo{}, err
	}
	h := hashKey(key)
	e := keyEntry{hash: h, appID: appID, created: p.now()}
	p.refresh.Lock()
	defer p.refresh.Unlock()
	err := p.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		// Selecting from apps makes an unknown app insert nothing, and so
		// report ErrNotFound before a key conflict, as Memory does.
		tag, err := tx.Exec(ctx, `INSERT INTO api_keys (id, app_id, key_hash, key_prefix, created_at)
			SELECT $1, id, $3, $4, $5 FROM apps WHERE id = $2`,
			uuid.New(), appID, h[:], displayPrefix(key), e.created)
		if err != nil {
			return interpretError(err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("app %s: %w", appID, ErrNotFound)
		}
		return notify(ctx, tx, appID)
	})
	if err != nil {
		return KeyInfo{}, fmt.Errorf("key %s: %w", keyID(h), err)
	}
	p.cache.setKey(e)
	return KeyInfo{ID: keyID(h), CreatedAt: e.created}, nil
}

// RemoveKey implements Store.
func (p *Postgres) RemoveKey(ctx context.Context, appID, id string) error {
	prefix, err := hex.DecodeString(id)
	if err != nil || len(prefix) != 8 {
		return fmt.Errorf("key %s of app %s: %w", id, appID, ErrNotFound)
	}
	p.refresh.Lock()
	defer p.refresh.Unlock()
	var removed [][]byte
	err = p.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM api_keys WHERE app_id = $1 AND substring(key_hash FROM 1 FOR 8) = $2 RETURNING key_hash`, appID, prefix)
		if err != nil {
			return interpretError(err)
		}
		if removed, err = pgx.CollectRows(rows, pgx.RowTo[[]byte]); err != nil {
			return interpretError(err)
		}
		if len(removed) == 0 {
			return ErrNotFound
		}
		return notify(ctx, tx, appID)
	})
	if err != nil {
		return fmt.Errorf("key %s of app %s: %w", id, appID, err)
	}
	for _, b := range removed {
		if h, ok := toHash(b); ok {
			p.cache.removeKeyHash(h)
		}
	}
	return nil
}

// SeedFrom copies every app and key of src into the database, once: only
// the first call ever made on a database seeds, and only if the apps table
// is empty then. That call records itself (table apps_seed), whether or not
// it imported anything, so later calls import nothing: deleting every app
// does not bring the examples back. Concurrent calls (replicas starting
// together) seed at most once. It returns how many apps it imported.
//
// The intended use, in cmd/api: load APPS_DIR into a Memory with LoadDir
// and pass it here, after Start (or before: the cache is updated either
// way). Keys are copied as digests; their display prefix is lost.
func (p *Postgres) SeedFrom(ctx context.Context, src *Memory) (int, error) {
	srcApps, srcKeys := src.snapshot()
	apps := make([]*App, 0, len(srcApps))
	for _, a := range srcApps {
		c := *a
		c.UpdatedAt = c.UpdatedAt.Truncate(time.Microsecond)
		if c.UpdatedAt.IsZero() {
			c.UpdatedAt = p.now()
		}
		if c.Tags == nil {
			c.Tags = []string{}
		}
		apps = append(apps, &c)
	}
	slices.SortFunc(apps, func(a, b *App) int { return strings.Compare(a.ID, b.ID) })
	keys := make([]keyEntry, 0, len(srcKeys))
	for _, e := range srcKeys {
		e.created = e.created.Truncate(time.Microsecond)
		keys = append(keys, e)
	}
	slices.SortFunc(keys, func(a, b keyEntry) int { return bytes.Compare(a.hash[:], b.hash[:]) })

	p.refresh.Lock()
	defer p.refresh.Unlock()
	seeded := false
	err := p.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		// The marker row serialises concurrent seeders: a second insert
		// waits for the first transaction, then conflicts.
		tag, err := tx.Exec(ctx, `INSERT INTO apps_seed (apps) VALUES (0) ON CONFLICT DO NOTHING`)
		if err != nil {
			return interpretError(err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		var nonEmpty bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM apps)`).Scan(&nonEmpty); err != nil {
			return interpretError(err)
		}
		if nonEmpty || len(apps) == 0 {
			return nil
		}
		for _, a := range apps {
			if err := validStored(a); err != nil {
				return err
			}
			if _, err := upsertApp(ctx, tx, a); err != nil {
				return fmt.Errorf("app %s: %w", a.ID, err)
			}
		}
		for _, e := range keys {
			if _, err := tx.Exec(ctx, `INSERT INTO api_keys (id, app_id, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4, $5)`,
				uuid.New(), e.appID, e.hash[:], KeyPrefix, e.created); err != nil {
				return fmt.Errorf("key %s: %w", keyID(e.hash), interpretError(err))
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE apps_seed SET apps = $1`, len(apps)); err != nil {
			return interpretError(err)
		}
		seeded = true
		return notify(ctx, tx, reloadAllPayload)
	})
	if err != nil {
		return 0, fmt.Errorf("seed apps: %w", err)
	}
	if !seeded {
		return 0, nil
	}
	p.cache.replaceAll(apps, keys)
	p.bmu.Lock()
	clear(p.broken)
	p.bmu.Unlock()
	return len(apps), nil
}

func validStored(a *App) error {
	if err := CheckID("app id", a.ID); err != nil {
		return err
	}
	if err := CheckID("workflow id", a.WorkflowID); err != nil {
		return err
	}
	if len(a.DSL) == 0 {
		return fmt.Errorf("%w: app %s has no DSL", ErrInvalid, a.ID)
	}
	return nil
}

// displayPrefix is what api_keys.key_prefix keeps to tell keys apart: "app-"
// and, for keys with at least 24 characters after it (NewKey's), the next
// 4, leaving at least 20 secret characters. Shorter keys show only "app-".
func displayPrefix(key string) string {
	const shown, minSecret = 4, 20
	if len(key) >= len(KeyPrefix)+shown+minSecret {
		return key[:len(KeyPrefix)+shown]
	}
	return KeyPrefix
}

func toHash(b []byte) ([32]byte, bool) {
	var h [32]byte
	if len(b) != len(h) {
		return h, false
	}
	copy(h[:], b)
	return h, true
}

func notify(ctx context.Context, tx pgx.Tx, payload string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, payload); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction, rolled back (even when ctx is done) if fn
// fails.
func (p *Postgres) inTx(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) (err error) {
	tx, err := p.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", interpretError(err))
	}
	defer func() {
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = tx.Rollback(rctx)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", interpretError(err))
	}
	return nil
}

// interpretError translates pgx errors into the package's sentinels,
// keeping the original in the chain (internal/pgerr knows the codes).
func interpretError(err error) error {
	switch pgerr.Classify(err) {
	case pgerr.Unique: // a key already in use
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case pgerr.ForeignKey: // the app is gone
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case pgerr.BadValue: // e.g. NUL in text
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}
