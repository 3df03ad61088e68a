package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// retention is RECORDS_RETENTION: a number of days ("30d") or a Go
// duration ("720h"); empty or 0 keeps records forever.
type retention time.Duration

// Decode implements envconfig.Decoder.
func (r *retention) Decode(value string) error {
	value = strings.TrimSpace(value)
	var d time.Duration
	switch {
	case value == "" || value == "0":
	case strings.HasSuffix(value, "d"):
		n, err := strconv.Atoi(strings.TrimSuffix(value, "d"))
		if err != nil || n < 0 || n > 100*366 {
			return fmt.Errorf("RECORDS_RETENTION %q: want days (30d) or a duration (720h)", value)
		}
		d = time.Duration(n) * 24 * time.Hour
	default:
		var err error
		if d, err = time.ParseDuration(value); err != nil || d < 0 {
			return fmt.Errorf("RECORDS_RETENTION %q: want days (30d) or a duration (720h)", value)
		}
	}
	if d > 0 && d < 24*time.Hour {
		return fmt.Errorf("RECORDS_RETENTION %q: records are dropped a day at a time; keep them a day or more", value)
	}
	*r = retention(d)
	return nil
}
