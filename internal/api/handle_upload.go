package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/repo"
)

// Upload errors, with Dify's codes and messages
// (api/controllers/common/errors.py).
var (
	// ErrNoFileUploaded: no multipart part named "file" holds a file.
	ErrNoFileUploaded = errors.New("Please upload your file.") //nolint:staticcheck // Dify's exact message
	// ErrTooManyFiles: more than one file part.
	ErrTooManyFiles = errors.New("Only one file is allowed.") //nolint:staticcheck // Dify's exact message
	// ErrUnsupportedFileType: a file part without a media type.
	ErrUnsupportedFileType = errors.New("File type not allowed.") //nolint:staticcheck // Dify's exact message
	// ErrFilenameNotExists: a file part with an empty file name.
	ErrFilenameNotExists = errors.New("The specified filename does not exist.") //nolint:staticcheck // Dify's exact message
	// ErrFileTooLarge: a file over its size limit. Dify 1.12.1 leaves the
	// placeholder of its message unfilled.
	ErrFileTooLarge = errors.New("File size exceeded. {message}") //nolint:staticcheck // Dify's exact message
)

// maxFormOverhead is what a multipart upload may carry beyond its file:
// part headers, boundaries and the user field.
const maxFormOverhead = 1 << 20

// maxFieldBytes bounds the user field.
const maxFieldBytes = 4 * MaxUserLength

// uploadForm scans an upload's multipart body once: the first part named
// "file" streams to the store, and the parts after it are read when that
// part ends, before the store commits it.
type uploadForm struct {
	mr     *multipart.Reader
	limits files.Limits
	// files counts the file parts; file describes the first named "file".
	files int
	file  *filePart
	user  string
	// hasUser is set once a user field was read.
	hasUser bool
}

// filePart is what the headers of the uploaded part say.
type filePart struct {
	name, mime, ext string
	// err is the first check of Dify's its headers fail (nil: stream it).
	err error
}

// part reads the next part's headers; io.EOF at the end of the body.
func (f *uploadForm) part() (*multipart.Part, map[string]string, error) {
	p, err := f.mr.NextRawPart()
	if err != nil {
		return nil, nil, err
	}
	_, params, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	return p, params, nil
}

// scan reads parts until the next file part named "file" (returned) or
// the end of the body (nil, nil). Other parts are counted and dropped;
// the user field is kept.
func (f *uploadForm) scan() (*multipart.Part, error) {
	for {
		p, params, err := f.part()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		name := params["name"]
		filename, isFile := params["filename"]
		switch {
		case isFile:
			f.files++
			if name == "file" && f.file == nil {
				f.file = f.describe(filename, p.Header.Get("Content-Type"))
				return p, nil
			}
		case name == "user" && !f.hasUser:
			b, err := io.ReadAll(io.LimitReader(p, maxFieldBytes))
			if err != nil {
				return nil, err
			}
			f.user, f.hasUser = string(b), true
		}
	}
}

// describe checks a file part's headers in Dify's order.
func (f *uploadForm) describe(name, contentType string) *filePart {
	mt, _, _ := strings.Cut(contentType, ";")
	fp := &filePart{name: name, mime: strings.TrimSpace(mt), ext: files.Extension(name)}
	switch {
	case fp.mime == "":
		fp.err = ErrUnsupportedFileType
	case name == "":
		fp.err = ErrFilenameNotExists
	case !files.ValidName(name):
		fp.err = &ParamError{Message: "Filename contains invalid characters"}
	case f.limits.Blocked(fp.ext):
		fp.err = &ParamError{Message: fmt.Sprintf("File extension '.%s' is not allowed for security reasons", fp.ext)}
	}
	return fp
}

// rest reads the parts after the file, and fails if one is a file.
func (f *uploadForm) rest() error {
	for {
		p, err := f.scan()
		if err != nil {
			return err
		}
		if p == nil {
			break
		}
	}
	if f.files > 1 {
		return ErrTooManyFiles
	}
	return nil
}

// fileReader is the uploaded part as the store reads it: at most limit
// bytes, and at its end the rest of the form, so that the upload's owner
// is known (and a second file refused) before the store commits it.
type fileReader struct {
	form  *uploadForm
	part  io.Reader
	left  int64
	u     *repo.Upload
	appID string
}

// Read implements io.Reader.
func (r *fileReader) Read(p []byte) (int, error) {
	if int64(len(p)) > r.left+1 {
		p = p[:r.left+1]
	}
	n, err := r.part.Read(p)
	if int64(n) > r.left {
		return 0, ErrFileTooLarge
	}
	r.left -= int64(n)
	if errors.Is(err, io.EOF) {
		if err := r.form.rest(); err != nil {
			return n, err
		}
		r.u.User = uploadUser(r.form.user)
		r.u.EndUserID = endUserID(r.appID, r.u.User)
	}
	return n, err
}

// uploadUser is the end user of an upload: the user field, or Dify's
// DEFAULT-USER.
func uploadUser(u string) string {
	if u == "" {
		return "DEFAULT-USER"
	}
	return u
}

// handleUpload serves POST /files/upload: one file, streamed to the
// store under its size limit, answered 201 with Dify's FileResponse.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	fs := s.cfg.Files
	if fs.Store == nil {
		s.writeError(w, r, ErrRouteNotFound)
		return
	}
	a := appFrom(r.Context())
	r.Body = http.MaxBytesReader(w, r.Body, fs.Limits.Max()+maxFormOverhead)
	mr, err := r.MultipartReader()
	if err != nil {
		s.writeError(w, r, ErrNoFileUploaded)
		return
	}
	form := &uploadForm{mr: mr, limits: fs.Limits}
	u, err := s.upload(r, a.ID, form)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e := enc{py: true}
	uploadBody(&e, u, s.cfg.Files.Signer.URL(s.baseURL(r), a.ID, u.ID))
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusCreated, e.b)
}

// upload reads the form and stores its file; errors follow Dify's order
// of checks.
func (s *Server) upload(r *http.Request, appID string, form *uploadForm) (*repo.Upload, error) {
	p, err := form.scan()
	if err != nil {
		return nil, bodyError(err)
	}
	if p == nil || form.file.err != nil {
		// Nothing to store: read the rest for the earlier checks.
		if p != nil {
			if err := form.rest(); err != nil {
				return nil, bodyError(err)
			}
		}
		return nil, form.verdict(nil)
	}
	fp := form.file
	u := &repo.Upload{
		ID: s.cfg.NewID(), AppID: appID, Name: files.StoredName(fp.name, fp.ext), Extension: fp.ext,
		MimeType: fp.mime, CreatedAt: s.cfg.Clock(),
	}
	fr := &fileReader{form: form, part: p, left: s.cfg.Files.Limits.For(fp.ext), u: u, appID: appID}
	err = s.cfg.Files.Store.Put(r.Context(), u, fr)
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, ErrFileTooLarge):
		// A later file part still makes it too_many_files.
		if err := form.rest(); err != nil {
			return nil, bodyError(err)
		}
		return nil, ErrFileTooLarge
	case errors.Is(err, ErrTooManyFiles):
		return nil, ErrTooManyFiles
	case errors.Is(err, repo.ErrTooLarge):
		return nil, fmt.Errorf("%w: %w", ErrFileTooLarge, err)
	}
	return nil, bodyError(err)
}

// verdict is the first of Dify's checks the form fails.
func (f *uploadForm) verdict(err error) error {
	switch {
	case f.file == nil:
		return ErrNoFileUploaded
	case f.files > 1:
		return ErrTooManyFiles
	case f.file.err != nil:
		return f.file.err
	}
	return err
}

// bodyError maps a failure to read the body: over the size bound, or a
// malformed multipart body.
func bodyError(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) || errors.Is(err, repo.ErrUnavailable) {
		return err
	}
	if errors.Is(err, ErrTooManyFiles) || errors.Is(err, ErrFileTooLarge) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoFileUploaded, err)
}

// uploadBody writes Dify's FileResponse.
func uploadBody(e *enc, u *repo.Upload, sourceURL string) {
	e.open()
	e.key("id")
	e.str(u.ID)
	e.key("name")
	e.str(u.Name)
	e.key("size")
	e.int(u.Size)
	e.key("extension")
	e.str(u.Extension)
	e.key("mime_type")
	e.str(u.MimeType)
	e.key("created_by")
	e.str(u.EndUserID)
	e.key("created_at")
	e.int(u.CreatedAt.Unix())
	e.key("preview_url")
	e.null()
	e.key("source_url")
	e.str(sourceURL)
	e.key("original_url")
	e.null()
	e.key("user_id")
	e.null()
	e.key("tenant_id")
	e.str(u.AppID)
	e.key("conversation_id")
	e.null()
	e.key("file_key")
	e.null()
	e.close()
}
