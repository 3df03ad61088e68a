package tools

// MCPConfig is the configuration of kind mcp: a Model Context Protocol
// server whose tools the provider offers (Dify's MCP provider).
type MCPConfig struct {
	// URL is the server's endpoint: a path ending in /mcp is streamable
	// HTTP, one ending in /sse is SSE, as in Dify.
	URL string `json:"url"`
	// Headers are sent with every request (e.g. Authorization).
	Headers map[string]string `json:"headers"`
	// Timeout bounds each request (Dify's default: 30s); SSEReadTimeout
	// bounds waiting on an SSE stream (300s).
	Timeout        Duration `json:"timeout"`
	SSEReadTimeout Duration `json:"sse_read_timeout"`
}

// OpenAPIConfig is the configuration of kind openapi: Dify's custom API
// tools, one tool per operation of an OpenAPI document.
type OpenAPIConfig struct {
	// Schema is the OpenAPI (or Swagger) document, inline, or SchemaFile
	// a path to it relative to tools.yaml.
	Schema     string `json:"schema"`
	SchemaFile string `json:"schema_file"`
	// Credentials are Dify's api provider credentials.
	Credentials struct {
		// AuthType is "none" or "api_key".
		AuthType string `json:"auth_type"`
		// APIKeyHeader (default Authorization), APIKeyValue and
		// APIKeyHeaderPrefix ("basic", "bearer" or "custom").
		APIKeyHeader       string `json:"api_key_header"`
		APIKeyValue        string `json:"api_key_value"`
		APIKeyHeaderPrefix string `json:"api_key_header_prefix"`
	} `json:"credentials"`
}

// WorkflowConfig is the configuration of kind workflow: an app served by
// the same flowrun, called in-process as a tool.
type WorkflowConfig struct {
	// App is the app's id (apps.yaml).
	App string `json:"app"`
	// Name and Description describe the tool to models (agent nodes).
	Name        string `json:"name"`
	Description string `json:"description"`
}
