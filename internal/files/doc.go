// Package files turns Dify file mappings into File values and files into
// bytes, for the API and the nodes that read files.
//
//   - Resolver builds the File value (§2.4 of the Dify reference) of a
//     mapping in a run request's inputs or files: an upload of the app
//     (local_file) or a URL probed with HEAD through the SSRF guard
//     (remote_url), checked against a variable's or sys.files'
//     FileConfig. Its errors are *InputError, Dify's 400 invalid_param.
//   - Reader returns a file's bytes: an upload from the store, scoped to
//     the app; a remote file through the guarded client under a byte
//     limit; a data: URL decoded.
//   - Signer signs and checks the URLs of uploads (…/file-preview), as
//     Dify's SECRET_KEY and FILES_ACCESS_TIMEOUT do.
//   - Limits holds the upload checks of POST /files/upload.
//
// The bytes live in a repo.FileStore: a local directory in memory mode
// (package disk), PostgreSQL in the sync and async modes (package sql).
package files
