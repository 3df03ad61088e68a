package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Loading: the Postgres store reads app rows and their keys, compiles
// them and keeps them in its cache (apps that fail to compile are kept
// aside as broken, with their error).

// appRow is a row of apps as read for loading.
type appRow struct {
	id, workflowID, name, mode, description, authorName string
	tags                                                []string
	dsl                                                 string
	updatedAt                                           time.Time
}

// fingerprint covers what build validates: the ids and the DSL.
func (r appRow) fingerprint() [32]byte {
	return sha256.Sum256([]byte(r.id + "\x00" + r.workflowID + "\x00" + r.dsl))
}

const appColumns = `id, workflow_id, name, mode, description, author_name, tags, dsl, updated_at`

func scanApp(row pgx.CollectableRow) (appRow, error) {
	var r appRow
	err := row.Scan(&r.id, &r.workflowID, &r.name, &r.mode, &r.description, &r.authorName, &r.tags, &r.dsl, &r.updatedAt)
	return r, err
}

func scanKey(row pgx.CollectableRow) (keyEntry, error) {
	var e keyEntry
	var b []byte
	if err := row.Scan(&e.appID, &b, &e.created); err != nil {
		return e, err
	}
	h, ok := toHash(b)
	if !ok {
		return e, fmt.Errorf("%w: key hash of app %s has %d bytes", ErrInvalid, e.appID, len(b))
	}
	e.hash = h
	return e, nil
}

func appKeys(ctx context.Context, q pgx.Tx, appID string) ([]keyEntry, error) {
	rows, err := q.Query(ctx, `SELECT app_id, key_hash, created_at FROM api_keys WHERE app_id = $1`, appID)
	if err != nil {
		return nil, interpretError(err)
	}
	keys, err := pgx.CollectRows(rows, scanKey)
	if err != nil {
		return nil, interpretError(err)
	}
	return keys, nil
}

// readTx is how loads read: one consistent snapshot of apps and keys.
var readTx = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// build turns a row into an App. prev, the cached app with the same id (or
// nil), is returned as is when nothing changed, and its compiled workflow is
// reused when only the DSL is unchanged.
func (p *Postgres) build(r appRow, prev *App) (*App, error) {
	if err := CheckID("app id", r.id); err != nil {
		return nil, err
	}
	if err := CheckID("workflow id", r.workflowID); err != nil {
		return nil, err
	}
	a := &App{
		ID: r.id, WorkflowID: r.workflowID, Name: r.name, Description: r.description, Mode: r.mode,
		Tags: r.tags, AuthorName: r.authorName, DSL: []byte(r.dsl), UpdatedAt: r.updatedAt,
	}
	if a.Tags == nil {
		a.Tags = []string{}
	}
	if prev != nil && bytes.Equal(prev.DSL, a.DSL) {
		if prev.WorkflowID == a.WorkflowID && prev.Name == a.Name && prev.Description == a.Description &&
			prev.Mode == a.Mode && slices.Equal(prev.Tags, a.Tags) && prev.AuthorName == a.AuthorName &&
			prev.UpdatedAt.Equal(a.UpdatedAt) {
			return prev, nil
		}
		a.Workflow = prev.Workflow
		return a, nil
	}
	wf, err := p.c.Compile(a.DSL)
	if err != nil {
		return nil, err
	}
	a.Workflow = wf
	return a, nil
}

// load builds r, or records (and logs, the first time) why it cannot.
func (p *Postgres) load(r appRow) *App {
	prev, _ := p.cache.Get(context.Background(), r.id)
	sum := r.fingerprint()
	p.bmu.Lock()
	b := p.broken[r.id]
	p.bmu.Unlock()
	if b != nil && b.row == sum {
		return nil // failed before, with the same ids and DSL
	}
	a, err := p.build(r, prev)
	if err != nil {
		p.cfg.Logger.Error("app not loaded: its stored definition is invalid", "app_id", r.id, "error", err)
		p.setBroken(r.id, &brokenApp{row: sum, err: err})
		return nil
	}
	p.setBroken(r.id, nil)
	return a
}

func (p *Postgres) setBroken(id string, b *brokenApp) {
	p.bmu.Lock()
	defer p.bmu.Unlock()
	if b == nil {
		delete(p.broken, id)
	} else {
		p.broken[id] = b
	}
}

// reloadAll replaces the cache with every app and key in the database.
func (p *Postgres) reloadAll(ctx context.Context) error {
	p.refresh.Lock()
	defer p.refresh.Unlock()
	var rows []appRow
	var keys []keyEntry
	err := p.inTx(ctx, readTx, func(tx pgx.Tx) error {
		r, err := tx.Query(ctx, `SELECT `+appColumns+` FROM apps`)
		if err != nil {
			return interpretError(err)
		}
		if rows, err = pgx.CollectRows(r, scanApp); err != nil {
			return interpretError(err)
		}
		r, err = tx.Query(ctx, `SELECT app_id, key_hash, created_at FROM api_keys`)
		if err != nil {
			return interpretError(err)
		}
		keys, err = pgx.CollectRows(r, scanKey)
		return interpretError(err)
	})
	if err != nil {
		return fmt.Errorf("load apps: %w", err)
	}
	present := make(map[string]bool, len(rows))
	apps := make([]*App, 0, len(rows))
	for _, r := range rows {
		present[r.id] = true
		if a := p.load(r); a != nil {
			apps = append(apps, a)
		}
	}
	p.bmu.Lock()
	for id := range p.broken {
		if !present[id] {
			delete(p.broken, id)
		}
	}
	p.bmu.Unlock()
	loaded := make(map[string]bool, len(apps))
	for _, a := range apps {
		loaded[a.ID] = true
	}
	keys = slices.DeleteFunc(keys, func(e keyEntry) bool { return !loaded[e.appID] })
	p.cache.replaceAll(apps, keys)
	return nil
}

// reloadApp replaces app id and its keys in the cache with the database's.
func (p *Postgres) reloadApp(ctx context.Context, id string) error {
	p.refresh.Lock()
	defer p.refresh.Unlock()
	var rows []appRow
	var keys []keyEntry
	err := p.inTx(ctx, readTx, func(tx pgx.Tx) error {
		r, err := tx.Query(ctx, `SELECT `+appColumns+` FROM apps WHERE id = $1`, id)
		if err != nil {
			return interpretError(err)
		}
		if rows, err = pgx.CollectRows(r, scanApp); err != nil {
			return interpretError(err)
		}
		keys, err = appKeys(ctx, tx, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("load app %s: %w", id, err)
	}
	if len(rows) == 0 {
		p.cache.replaceApp(id, nil, nil)
		p.setBroken(id, nil)
		return nil
	}
	a := p.load(rows[0])
	if a == nil {
		keys = nil
	}
	p.cache.replaceApp(id, a, keys)
	return nil
}
