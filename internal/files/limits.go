package files

import (
	"slices"
	"strings"
)

// MiB is Dify's MB: the upload limits count 1024×1024 bytes.
const MiB = 1 << 20

// Limits are the upload checks of POST /files/upload, with Dify's
// defaults (DefaultLimits).
type Limits struct {
	// File, Image, Video and Audio are the largest accepted sizes in
	// bytes (UPLOAD_FILE_SIZE_LIMIT, UPLOAD_IMAGE_FILE_SIZE_LIMIT,
	// UPLOAD_VIDEO_FILE_SIZE_LIMIT, UPLOAD_AUDIO_FILE_SIZE_LIMIT);
	// a file of exactly the limit passes.
	File, Image, Video, Audio int64
	// Blacklist lists refused extensions, lower-case without the dot
	// (UPLOAD_FILE_EXTENSION_BLACKLIST).
	Blacklist []string
}

// DefaultLimits are Dify's: 15, 10, 100 and 50 MB, no blacklist.
func DefaultLimits() Limits {
	return Limits{File: 15 * MiB, Image: 10 * MiB, Video: 100 * MiB, Audio: 50 * MiB}
}

// Upload extension lists of Dify's constants (IMAGE_EXTENSIONS, …).
var (
	imageExts = []string{"jpg", "jpeg", "png", "webp", "gif", "svg"}
	videoExts = []string{"mp4", "mov", "mpeg", "webm"}
	audioExts = []string{"mp3", "m4a", "wav", "amr", "mpga"}
)

// For returns the size limit of a file with extension ext (lower-case,
// without the dot).
func (l Limits) For(ext string) int64 {
	switch {
	case slices.Contains(imageExts, ext):
		return l.Image
	case slices.Contains(videoExts, ext):
		return l.Video
	case slices.Contains(audioExts, ext):
		return l.Audio
	}
	return l.File
}

// Max is the largest of the limits.
func (l Limits) Max() int64 { return max(l.File, l.Image, l.Video, l.Audio) }

// Blocked reports whether ext is blacklisted.
func (l Limits) Blocked(ext string) bool { return slices.Contains(l.Blacklist, ext) }

// ParseBlacklist reads UPLOAD_FILE_EXTENSION_BLACKLIST: a comma list,
// spaces and leading dots dropped, lower-cased.
func ParseBlacklist(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.ToLower(strings.TrimLeft(strings.TrimSpace(e), ".")); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// invalidNameChars are the characters Dify refuses in a file name.
const invalidNameChars = `/\:*?"<>|`

// ValidName reports whether name has none of the characters Dify
// refuses.
func ValidName(name string) bool { return !strings.ContainsAny(name, invalidNameChars) }

// Extension is Python's os.path.splitext(name)[1], without the dot and
// lower-cased: leading dots do not start an extension.
func Extension(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || strings.Trim(name[:i], ".") == "" {
		return ""
	}
	return strings.ToLower(name[i+1:])
}

// StoredName is the name Dify keeps: a name over 200 characters becomes
// its first dotted part, cut to 200 characters, and the extension.
func StoredName(name, ext string) string {
	if len([]rune(name)) <= 200 {
		return name
	}
	first, _, _ := strings.Cut(name, ".")
	if r := []rune(first); len(r) > 200 {
		first = string(r[:200])
	}
	return first + "." + ext
}
