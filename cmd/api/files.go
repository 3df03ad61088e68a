package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/nodes/httpreq"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/disk"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

// fileConfig configures uploads and file inputs (docs/files.md). Names
// and defaults are Dify's where Dify has them; sizes in MB are MiB.
type fileConfig struct {
	SizeLimit      int64  `envconfig:"UPLOAD_FILE_SIZE_LIMIT" default:"15"`
	ImageSizeLimit int64  `envconfig:"UPLOAD_IMAGE_FILE_SIZE_LIMIT" default:"10"`
	VideoSizeLimit int64  `envconfig:"UPLOAD_VIDEO_FILE_SIZE_LIMIT" default:"100"`
	AudioSizeLimit int64  `envconfig:"UPLOAD_AUDIO_FILE_SIZE_LIMIT" default:"50"`
	Blacklist      string `envconfig:"UPLOAD_FILE_EXTENSION_BLACKLIST"`
	// FilesURL prefixes signed file URLs ("": the request's own host).
	FilesURL string `envconfig:"FILES_URL"`
	// SecretKey signs file URLs; replicas must share it.
	SecretKey     string `envconfig:"SECRET_KEY"`
	AccessTimeout int    `envconfig:"FILES_ACCESS_TIMEOUT" default:"300"`
	// Dir, DirMaxBytes: memory mode's upload directory ("": a temporary
	// one, removed at exit) and its byte cap.
	Dir         string `envconfig:"UPLOAD_DIR"`
	DirMaxBytes int64  `envconfig:"UPLOAD_DIR_MAX_BYTES" default:"1073741824"`
	// TTL is how long uploads are kept, in every mode.
	TTL time.Duration `envconfig:"UPLOAD_TTL" default:"24h"`
}

// limits returns the upload limits, checked.
func (fc fileConfig) limits() (files.Limits, error) {
	if fc.SizeLimit <= 0 || fc.ImageSizeLimit <= 0 || fc.VideoSizeLimit <= 0 || fc.AudioSizeLimit <= 0 {
		return files.Limits{}, errors.New("configuration: UPLOAD_FILE_SIZE_LIMIT, UPLOAD_IMAGE_FILE_SIZE_LIMIT, UPLOAD_VIDEO_FILE_SIZE_LIMIT and UPLOAD_AUDIO_FILE_SIZE_LIMIT must be positive")
	}
	if fc.TTL <= 0 || fc.AccessTimeout <= 0 || fc.DirMaxBytes <= 0 {
		return files.Limits{}, errors.New("configuration: UPLOAD_TTL, FILES_ACCESS_TIMEOUT and UPLOAD_DIR_MAX_BYTES must be positive")
	}
	return files.Limits{
		File: fc.SizeLimit * files.MiB, Image: fc.ImageSizeLimit * files.MiB,
		Video: fc.VideoSizeLimit * files.MiB, Audio: fc.AudioSizeLimit * files.MiB,
		Blacklist: files.ParseBlacklist(fc.Blacklist),
	}, nil
}

// uploadStore is the file store, set once storage is open: the node
// registry, built before, holds it already. Runs start only after it is
// set.
type uploadStore struct {
	repo.FileStore
}

// openFiles opens the file store of the mode (memory: a local directory;
// sync, async: PostgreSQL), starts its retention sweeps, and returns the
// API's file configuration and a stop function.
func openFiles(ctx context.Context, cfg config, st *storage, uploads *uploadStore, log *slog.Logger) (api.Files, func(context.Context) error, error) {
	fc := cfg.Files
	limits, err := fc.limits()
	if err != nil {
		return api.Files{}, nil, err
	}
	var cleanup func()
	if st.pool != nil {
		uploads.FileStore = reposql.NewFiles(st.pool)
	} else {
		dir := fc.Dir
		if dir == "" {
			if dir, err = os.MkdirTemp("", "flowrun-uploads-"); err != nil {
				return api.Files{}, nil, fmt.Errorf("upload directory: %w", err)
			}
			cleanup = func() { _ = os.RemoveAll(dir) }
		}
		d, err := disk.New(disk.Config{Dir: dir, MaxBytes: fc.DirMaxBytes, TTL: fc.TTL})
		if err != nil {
			if cleanup != nil {
				cleanup()
			}
			return api.Files{}, nil, fmt.Errorf("configuration: UPLOAD_DIR: %w", err)
		}
		uploads.FileStore = d
	}
	key := fc.SecretKey
	if key == "" {
		key = files.RandomKey()
		if st.pool != nil {
			log.Warn("SECRET_KEY is not set: file URLs signed by this replica are valid on it only")
		}
	}
	signer := files.NewSigner([]byte(key), time.Duration(fc.AccessTimeout)*time.Second, nil)
	client, err := guardedClient(cfg.Nodes)
	if err != nil {
		return api.Files{}, nil, err
	}
	sweeper := files.NewSweeper(uploads.FileStore, fc.TTL, cfg.RecordsMaintenanceInterval, log, nil)
	if err := sweeper.Start(ctx); err != nil {
		if cleanup != nil {
			cleanup()
		}
		return api.Files{}, nil, err
	}
	stop := func(ctx context.Context) error {
		err := sweeper.Stop(ctx)
		if cleanup != nil {
			cleanup()
		}
		return err
	}
	return api.Files{
		Store:    uploads.FileStore,
		Resolver: files.NewResolver(files.ResolverConfig{Store: uploads.FileStore, Client: client, Signer: signer}),
		Signer:   signer,
		Limits:   limits,
		BaseURL:  fc.FilesURL,
	}, stop, nil
}

// guardedClient is an HTTP client whose every connection, redirects
// included, passes the http-request node's SSRF guard (SSRF_ALLOW,
// SSRF_ALLOW_PRIVATE_NETWORKS), for remote_url files.
func guardedClient(nc nodeConfig) (*http.Client, error) {
	dial, err := httpreq.Dialer(httpConfig(nc))
	if err != nil {
		return nil, fmt.Errorf("configuration: http-request: %w", err)
	}
	return &http.Client{
		Transport: &http.Transport{DialContext: dial, Proxy: nil, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
			ResponseHeaderTimeout: time.Duration(nc.HTTPMaxConnect) * time.Second},
		Timeout: time.Duration(nc.HTTPMaxRead) * time.Second,
	}, nil
}

// httpConfig is the http-request node's configuration.
func httpConfig(nc nodeConfig) httpreq.Config {
	return httpreq.Config{
		MaxConnectTimeout: time.Duration(nc.HTTPMaxConnect) * time.Second,
		MaxReadTimeout:    time.Duration(nc.HTTPMaxRead) * time.Second,
		MaxWriteTimeout:   time.Duration(nc.HTTPMaxWrite) * time.Second,
		MaxTextSize:       nc.HTTPMaxText, MaxBinarySize: nc.HTTPMaxBinary,
		Allow: nc.SSRFAllow, AllowPrivateNetworks: nc.SSRFAllowPrivate,
	}
}
