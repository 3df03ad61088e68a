package sql

import (
	"testing"

	"github.com/google/uuid"
)

func TestParseUUID(t *testing.T) {
	for _, s := range []string{"019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b", "019AB3C4-5D6E-7F80-9A1B-2C3D4E5F6A7B", "00000000-0000-0000-0000-000000000000"} {
		got, ok := parseUUID(s)
		if want := uuid.MustParse(s); !ok || got != want {
			t.Errorf("parseUUID(%q) = %x, %v; want %x", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7", "019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7bb", "019ab3c4x5d6e-7f80-9a1b-2c3d4e5f6a7b", "019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7g", "{019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a}"} {
		if _, ok := parseUUID(s); ok {
			t.Errorf("parseUUID(%q) accepted", s)
		}
	}
}
