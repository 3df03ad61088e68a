package api

import "net/http"

// Header names Dify sets on every response (api/extensions/ext_app_metrics.py,
// an after_request hook): the server's version and its DEPLOY_ENV. Clients
// read them to report which server answered, e.g. the official Go SDK's
// APIError.ServerVersion. Canonical forms: the header map is indexed
// directly.
const (
	VersionHeader = "X-Version"
	EnvHeader     = "X-Env"
)

// versionHeaders sets X-Version and X-Env on every response, errors, the
// console and the admin API included, as Dify's hook does. The values are
// built once; net/http only reads the slices it is handed.
func (s *Server) versionHeaders() func(http.Handler) http.Handler {
	version, env := []string{s.cfg.ServerVersion}, []string{s.cfg.DeployEnv}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h[VersionHeader] = version
			h[EnvHeader] = env
			next.ServeHTTP(w, r)
		})
	}
}
