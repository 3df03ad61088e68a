package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// How a browser authenticates: the login form posts a key (the console
// key or the admin key); the answer sets the cookie CookieName, HttpOnly,
// SameSite=Strict, Path=/console (Secure when the request came over
// TLS), holding a session: a random id, an expiry and an HMAC-SHA256 of
// both under a secret derived from the keys. Nothing is stored on the
// server; changing a key ends every session. Scripts and tools may send
// "Authorization: Bearer <key>" instead. Anything else (no key, a wrong
// key, an app key, an expired or forged cookie) is 401, with the login
// form as the body.
//
// CSRF: every page is a GET and changes nothing; the cookie is never
// sent on cross-site requests (SameSite=Strict); the two POSTs check
// that Origin, when sent, is this host, and logging out also takes a
// token, the HMAC of the session id.

// CookieName is the session cookie's name.
const CookieName = "flowrun_console"

type auth struct {
	keys   [][32]byte // sha256 of each key
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

func newAuth(keys []string, ttl time.Duration, now func() time.Time) *auth {
	a := &auth{ttl: ttl, now: now}
	mac := hmac.New(sha256.New, []byte("flowrun console session"))
	for _, k := range keys {
		a.keys = append(a.keys, sha256.Sum256([]byte(k)))
		mac.Write([]byte(k))
		mac.Write([]byte{0})
	}
	a.secret = mac.Sum(nil)
	return a
}

// valid reports whether key is one of the keys, comparing hashes in
// constant time.
func (a *auth) valid(key string) bool {
	got := sha256.Sum256([]byte(key))
	ok := 0
	for _, want := range a.keys {
		ok |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return ok == 1
}

func (a *auth) sign(parts ...string) string {
	mac := hmac.New(sha256.New, a.secret)
	mac.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// newSession returns a cookie value: id.expiry.mac.
func (a *auth) newSession() (string, time.Time) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	exp := a.now().Add(a.ttl).Truncate(time.Second)
	e := strconv.FormatInt(exp.Unix(), 10)
	return id + "." + e + "." + a.sign("session", id, e), exp
}

// session returns the session id of a valid, unexpired cookie value.
func (a *auth) session(v string) (string, bool) {
	id, rest, ok1 := strings.Cut(v, ".")
	e, mac, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return "", false
	}
	if !hmac.Equal([]byte(mac), []byte(a.sign("session", id, e))) {
		return "", false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || !a.now().Before(time.Unix(exp, 0)) {
		return "", false
	}
	return id, true
}

// csrf is the logout token of session id.
func (a *auth) csrf(id string) string { return a.sign("csrf", id) }

type ctxKey int

const sessionKey ctxKey = 0

// sessionFrom returns the request's session id ("" with a bearer key).
func sessionFrom(ctx context.Context) string {
	s, _ := ctx.Value(sessionKey).(string)
	return s
}

func (c *Console) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, key, _ := strings.Cut(h, " ")
			if strings.EqualFold(scheme, "bearer") && c.auth.valid(strings.TrimSpace(key)) {
				next.ServeHTTP(w, r)
				return
			}
			c.unauthorized(w, r)
			return
		}
		if ck, err := r.Cookie(CookieName); err == nil {
			if id, ok := c.auth.session(ck.Value); ok {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey, id)))
				return
			}
		}
		c.unauthorized(w, r)
	})
}

// unauthorized answers 401 with the login form.
func (c *Console) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="console"`)
	c.render(w, r, http.StatusUnauthorized, "login", loginView{Next: nextPath(r.URL.RequestURI())})
}

type loginView struct {
	Next  string
	Error string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", loginView{Next: nextPath(r.URL.Query().Get("next"))})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		c.fail(w, r, http.StatusForbidden, "Cross-origin request refused.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, http.StatusBadRequest, "Malformed form.")
		return
	}
	next := nextPath(r.PostForm.Get("next"))
	if !c.auth.valid(r.PostForm.Get("key")) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="console"`)
		c.render(w, r, http.StatusUnauthorized, "login", loginView{Next: next, Error: "That key does not open the console."})
		return
	}
	v, exp := c.auth.newSession()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: v, Path: Base, Expires: exp, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	id := sessionFrom(r.Context())
	if !sameOrigin(r) || id == "" || !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(c.auth.csrf(id))) {
		c.fail(w, r, http.StatusForbidden, "Invalid logout request.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Base, MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Base+"/login", http.StatusSeeOther)
}

// sameOrigin reports whether the request comes from this origin: by
// Sec-Fetch-Site when the browser sends it, otherwise by Origin, if any.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// nextPath keeps a redirect target inside the console (no open
// redirect): a path under Base, or Base itself.
func nextPath(p string) string {
	if strings.HasPrefix(p, Base+"/") && !strings.HasPrefix(p, "//") && !strings.ContainsAny(p, "\\\r\n") &&
		!strings.HasPrefix(p, Base+"/login") {
		return p
	}
	return Base + "/"
}
