// Package tools is flowrun's tool layer: the registry of tool providers
// that Dify's `tool` and `agent` nodes call.
//
// A tool is a provider id plus a tool name (Dify's provider_id and
// tool_name), with typed parameters (Param) and an optional output schema.
// A Provider lists its tools and invokes one of them; an invocation emits
// Dify's tool messages (Message: text, json, link, image, blob, file,
// variable, log) through a callback, so that text can stream while the
// tool runs. The registry maps provider ids, and their aliases, to
// providers: native built-ins (package tools/builtin), MCP servers,
// OpenAPI documents and workflows served by the same flowrun plug in as
// Providers, built from the operator's configuration (Config, Kinds).
//
// # For node and agent authors
//
//	p, t, err := reg.Lookup(ctx, providerType, providerID, toolName)
//	args, err := t.Cast(args)                  // Dify's cast by declared type
//	err = p.Invoke(ctx, &tools.Call{Tool: t.Name, Args: args}, emit)
//
// Collect gathers the messages of one call; Text renders them as the
// string an agent gives back to its model, as Dify's ToolEngine does.
// Tool.InputSchema is the JSON schema of the parameters a model fills in.
//
// # For provider authors
//
// Implement Provider (and io.Closer if the provider holds connections),
// and a Factory that builds it from its ProviderConfig entry of
// tools.yaml; cmd/api lists the factories by kind. Report failures with
// *Error when Dify reports a specific exception class (InvokeErrorf for
// Dify's ToolInvokeError), and honour ctx: the node's timeout and the
// run's stop cancel it.
//
// The package has no DB or transport imports; providers that need a
// transport live in subpackages.
package tools
