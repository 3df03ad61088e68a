// Package docextract turns a document into text as Dify's
// document-extractor node does (api/core/workflow/nodes/document_extractor
// /node.py): Classify picks a conversion from the file's extension, or
// its MIME type when it has none, and Extract runs it. Each conversion
// reproduces the text of the Python library Dify calls; docs/nodes.md
// lists them with the Go code or library that reads each format.
//
// Extraction of untrusted bytes is bounded by Limits (text produced,
// bytes decompressed from a zip entry and in total). Libraries can still
// recurse or allocate without bound on a hostile file, so the service
// runs Extract in worker processes (Workers, WorkerMain) and never in its
// own.
package docextract
