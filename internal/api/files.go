package api

import (
	"cmp"
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/repo"
)

// FileStore is what the API needs of a repo.FileStore.
type FileStore interface {
	Put(ctx context.Context, u *repo.Upload, r io.Reader) error
	Open(ctx context.Context, appID, id string) (*repo.Upload, io.ReadCloser, error)
}

// Files configures uploads and file inputs.
type Files struct {
	// Store keeps uploads (nil: POST /files/upload and the preview routes
	// answer 404, and no local_file input is found).
	Store FileStore
	// Resolver turns the file mappings of run requests into File values
	// (nil: a resolver that finds no upload and fetches nothing).
	Resolver *files.Resolver
	// Signer signs the source_url of uploads and checks the signed
	// file-preview route (nil: a signer with a random key, valid in this
	// process only).
	Signer *files.Signer
	// Limits are the upload limits (zero: files.DefaultLimits).
	Limits files.Limits
	// BaseURL prefixes signed URLs, like Dify's FILES_URL ("": the
	// scheme and Host of the request).
	BaseURL string
}

func (f Files) withDefaults() Files {
	if f.Limits.Max() == 0 {
		bl := f.Limits.Blacklist
		f.Limits = files.DefaultLimits()
		f.Limits.Blacklist = bl
	}
	if f.Signer == nil {
		f.Signer = files.NewSigner([]byte(files.RandomKey()), 0, nil)
	}
	if f.Resolver == nil {
		f.Resolver = files.NewResolver(files.ResolverConfig{Signer: f.Signer})
	}
	f.BaseURL = strings.TrimRight(f.BaseURL, "/")
	return f
}

// baseURL is where this request reached the server, for signed URLs.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.Files.BaseURL != "" {
		return s.cfg.Files.BaseURL
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + cmp.Or(r.Host, "localhost")
}
