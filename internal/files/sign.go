package files

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"time"
)

// DefaultAccessTimeout is how long a signed URL is valid (Dify's
// FILES_ACCESS_TIMEOUT, 300 s).
const DefaultAccessTimeout = 300 * time.Second

// ErrSignature is a signed URL whose signature is wrong or has expired.
var ErrSignature = errors.New("Invalid request.") //nolint:staticcheck // Dify's exact message

// Signer signs the URLs through which an upload's bytes can be fetched
// without an API key: <base>/files/<id>/file-preview?timestamp&nonce&sign
// (Dify's path and parameters) plus app_id, since flowrun finds an upload
// only within its app. sign is Dify's url-safe base64 HMAC-SHA256 of
// "file-preview|<id>|<timestamp>|<nonce>", with "|<app_id>" appended.
type Signer struct {
	key     []byte
	timeout time.Duration
	clock   func() time.Time
}

// NewSigner returns a Signer with key (SECRET_KEY; every replica must
// share it), URLs valid for timeout (0: DefaultAccessTimeout) and clock
// (nil: time.Now).
func NewSigner(key []byte, timeout time.Duration, clock func() time.Time) *Signer {
	if clock == nil {
		clock = time.Now
	}
	return &Signer{key: key, timeout: cmp.Or(timeout, DefaultAccessTimeout), clock: clock}
}

func (s *Signer) sign(appID, id, ts, nonce string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("file-preview|" + id + "|" + ts + "|" + nonce + "|" + appID))
	return base64.URLEncoding.EncodeToString(m.Sum(nil))
}

// URL returns the signed URL of upload id of app appID under base (an
// absolute URL without a trailing slash).
func (s *Signer) URL(base, appID, id string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	ts := strconv.FormatInt(s.clock().Unix(), 10)
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "sign": {s.sign(appID, id, ts, nonce)}, "app_id": {appID}}
	return base + "/files/" + url.PathEscape(id) + "/file-preview?" + q.Encode()
}

// Verify checks the query of a signed URL of upload id and returns the
// app it was signed for. Returns ErrSignature if the signature is wrong
// or older than the timeout.
func (s *Signer) Verify(id string, q url.Values) (appID string, err error) {
	appID, ts, nonce, sign := q.Get("app_id"), q.Get("timestamp"), q.Get("nonce"), q.Get("sign")
	if !hmac.Equal([]byte(sign), []byte(s.sign(appID, id, ts, nonce))) {
		return "", ErrSignature
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || s.clock().Unix()-t > int64(s.timeout/time.Second) {
		return "", ErrSignature
	}
	return appID, nil
}

// RandomKey is a signing key for a process configured without one: URLs
// it signs are valid in that process only.
func RandomKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
