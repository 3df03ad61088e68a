package openapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/flowrun/flowrun/internal/tools"
)

// auth is a provider's credentials: the header every request carries
// (Dify's ApiTool.assembling_request).
type auth struct {
	header, value string
}

// newAuth checks c's credentials: auth_type none (or empty) sends
// nothing; api_key sends api_key_value in api_key_header (default
// Authorization), prefixed "Basic " or "Bearer " as api_key_header_prefix
// says ("custom": as it is).
func newAuth(c *tools.OpenAPIConfig) (auth, error) {
	cr := c.Credentials
	switch cr.AuthType {
	case "", "none":
		return auth{}, nil
	case "api_key", "api_key_header": // api_key_header: Dify's older name
	default:
		return auth{}, fmt.Errorf("credentials.auth_type %q: want none or api_key", cr.AuthType)
	}
	if cr.APIKeyValue == "" {
		return auth{}, errors.New("Missing api_key_value") //nolint:staticcheck // Dify's text
	}
	a := auth{header: cr.APIKeyHeader, value: cr.APIKeyValue}
	if a.header == "" {
		a.header = "Authorization"
	}
	switch cr.APIKeyHeaderPrefix {
	case "basic":
		a.value = "Basic " + a.value
	case "bearer":
		a.value = "Bearer " + a.value
	case "", "custom":
	default:
		return auth{}, fmt.Errorf("credentials.api_key_header_prefix %q: want basic, bearer or custom", cr.APIKeyHeaderPrefix)
	}
	return a, nil
}

// apply sets the credentials' header.
func (a auth) apply(h http.Header) {
	if a.header != "" {
		h.Set(a.header, a.value)
	}
}
