// Package knowledge is flowrun's access to knowledge bases that live
// outside it: the backends the knowledge-retrieval node queries.
//
// The operator maps each dataset id of the DSL (a node's dataset_ids) to a
// backend in knowledge.yaml (Config, docs/knowledge.md). Two protocols
// are spoken, both defined by Dify:
//
//   - KindExternal: Dify's External Knowledge API, POST <endpoint>/retrieval
//     with a Bearer key, which any knowledge service can implement;
//   - KindDify: the dataset retrieve endpoint of a Dify instance's service
//     API, POST <base_url>/datasets/{id}/retrieve with a dataset API key.
//
// Every request goes through the dial function of Options, which cmd/api
// sets to the http-request node's SSRF guard, and is bounded in time and
// in response size. A Registry built from the configuration resolves
// dataset ids to Datasets; a Dataset's Retrieve returns its Docs.
package knowledge
