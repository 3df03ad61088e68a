package knowledge

import (
	"fmt"
	"maps"
	"slices"
)

// Dataset is one configured dataset.
type Dataset struct {
	// ID is the DSL's dataset id; Name and Description describe it (see
	// DatasetConfig).
	ID, Name, Description string
	// External is set for KindExternal: Dify merges the results of such
	// datasets differently (see the knowledge-retrieval node).
	External bool
	Backend
}

// Registry maps dataset ids to datasets.
type Registry struct {
	datasets map[string]*Dataset
	client   *client
}

// New builds the registry of cfg (nil: no dataset). o.Dial is required
// when cfg has datasets.
func New(cfg *Config, o Options) (*Registry, error) {
	reg := &Registry{datasets: map[string]*Dataset{}}
	if cfg == nil || len(cfg.Datasets) == 0 {
		return reg, nil
	}
	if o.Dial == nil {
		return nil, fmt.Errorf("%w: no dialer", ErrInvalidConfig)
	}
	reg.client = newClient(o)
	for i := range cfg.Datasets {
		dc := &cfg.Datasets[i]
		d := &Dataset{ID: dc.ID, Name: dc.Name, Description: dc.Description}
		if d.Name == "" {
			d.Name = dc.ID
		}
		switch dc.Kind {
		case KindExternal:
			d.External, d.Backend = true, newExternal(reg.client, dc)
		case KindDify:
			d.Backend = newDify(reg.client, dc)
		default:
			return nil, fmt.Errorf("%w: datasets[%d]: unknown kind %q", ErrInvalidConfig, i, dc.Kind)
		}
		reg.datasets[d.ID] = d
	}
	return reg, nil
}

// Add registers d under d.ID, replacing any dataset of that id (tests and
// embedders plug their own backends in this way).
func (r *Registry) Add(d *Dataset) { r.datasets[d.ID] = d }

// Lookup returns the dataset of id. An id the configuration does not map
// is an error wrapping ErrUnknownDataset.
func (r *Registry) Lookup(id string) (*Dataset, error) {
	if d, ok := r.datasets[id]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("%w: %q is not in the knowledge configuration (knowledge.yaml)", ErrUnknownDataset, id)
}

// IDs lists the configured dataset ids, sorted.
func (r *Registry) IDs() []string { return slices.Sorted(maps.Keys(r.datasets)) }

// Close drops the backends' idle connections.
func (r *Registry) Close() {
	if r.client != nil {
		r.client.close()
	}
}
