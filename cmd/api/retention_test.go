package main

import (
	"testing"
	"time"
)

func TestRetentionDecode(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"": 0, "0": 0, "30d": 30 * 24 * time.Hour, " 1d ": 24 * time.Hour, "720h": 720 * time.Hour,
	} {
		var r retention
		if err := r.Decode(in); err != nil || time.Duration(r) != want {
			t.Errorf("Decode(%q) = %v, %v; want %v", in, time.Duration(r), err, want)
		}
	}
	for _, in := range []string{"-1d", "30", "1h", "d", "3.5d", "99999999d", "forever", "-720h"} {
		var r retention
		if err := r.Decode(in); err == nil {
			t.Errorf("Decode(%q) = %v, want an error", in, time.Duration(r))
		}
	}
}
