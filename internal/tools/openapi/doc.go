// Package openapi is the tool provider kind "openapi": Dify's custom API
// tools (ApiToolProvider), one tool per operation of an OpenAPI 3 or
// Swagger 2 document, called as HTTP requests.
//
// The document is parsed with kin-openapi and read by Dify's rules
// (ApiBasedToolSchemaParser): a tool is named by its operationId (or
// <path>_<method> without one), its parameters are the operation's path,
// query, header and cookie parameters followed by the properties of its
// request body. Invoke builds the request as Dify's ApiTool does and sends
// it through the http.Client it was given, which cmd/api builds on the
// http-request node's SSRF guard. See docs/tools.md.
package openapi
