package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// IndexFile is the name of the file, inside an apps directory, that lists
// the apps to load.
const IndexFile = "apps.yaml"

// Index is the content of apps.yaml:
//
//	apps:
//	- id: 3f6c2a1e-0b6d-4e43-9d0e-6f1f5d7f0a01      # app id (UUID), stable
//	  workflow_id: 9b8f...                           # workflow id (UUID), stable
//	  file: echo.yml                                 # DSL file, relative to the directory
//	  keys: [app-echo-local-dev-key]                 # API keys selecting the app
//	  name: optional override of app.name
//	  description: optional override of app.description
//	  tags: [optional, for GET /info]
//	  author_name: optional, for GET /info
type Index struct {
	Apps []IndexEntry `yaml:"apps"`
}

// IndexEntry is one app in apps.yaml.
type IndexEntry struct {
	ID          string   `yaml:"id"`
	WorkflowID  string   `yaml:"workflow_id"`
	File        string   `yaml:"file"`
	Keys        []string `yaml:"keys"`
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Tags        []string `yaml:"tags"`
	AuthorName  string   `yaml:"author_name"`
}

// LoadDir reads dir/apps.yaml, compiles every listed DSL file and stores
// the apps and their keys in s. Every problem is reported (joined), and
// nothing partial should be served when it returns an error.
func LoadDir(ctx context.Context, dir string, c Compiler, s Store) (int, error) {
	path := filepath.Join(dir, IndexFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read app index: %w", err)
	}
	var idx Index
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	var errs []error
	n := 0
	for i, e := range idx.Apps {
		if err := loadEntry(ctx, dir, c, s, e); err != nil {
			errs = append(errs, fmt.Errorf("%s: apps[%d] (%s): %w", path, i, e.File, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func loadEntry(ctx context.Context, dir string, c Compiler, s Store, e IndexEntry) error {
	if e.File == "" {
		return fmt.Errorf("%w: file is required", ErrInvalid)
	}
	dsl, err := os.ReadFile(filepath.Join(dir, e.File))
	if err != nil {
		return err
	}
	a, err := New(c, e.ID, e.WorkflowID, dsl)
	if err != nil {
		return err
	}
	if _, err := s.Get(ctx, a.ID); err == nil {
		return fmt.Errorf("%w: duplicate app id %s", ErrConflict, a.ID)
	}
	if e.Name != "" {
		a.Name = e.Name
	}
	if e.Description != "" {
		a.Description = e.Description
	}
	if e.Tags != nil {
		a.Tags = e.Tags
	}
	a.AuthorName = e.AuthorName
	if _, err := s.Put(ctx, a); err != nil {
		return err
	}
	for _, k := range e.Keys {
		if _, err := s.AddKey(ctx, a.ID, k); err != nil {
			return err
		}
	}
	return nil
}
