package app

// SetReloadHook makes p call f after its listener handled a notification
// (f gets the payload) or reloaded everything (f gets ""). Call it before
// Start.
func SetReloadHook(p *Postgres, f func(payload string)) { p.reloaded = f }
