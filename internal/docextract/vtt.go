package docextract

import (
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"
)

func decodeRune(s string) (rune, int) { return utf8.DecodeRuneInString(s) }

var (
	vttTag   = regexp.MustCompile(`<.*?>`)
	vttVoice = regexp.MustCompile(`^<v(?:\.\w+)*\s+([^>]+)>`)
)

type caption struct {
	voice string
	has   bool
	text  string
}

// vttText is Dify's _extract_text_from_vtt, reached by the MIME type
// text/vtt only: captions read as webvtt-py reads them (text without cue
// tags, the voice of a leading <v Speaker> span), consecutive captions of
// one speaker merged with a space, each output line `Speaker "text"`.
// Dify's merge has a quirk kept here: a caption without a voice after the
// first repeats the text being merged, not its own.
func vttText(b []byte) (string, error) {
	caps, err := parseVTT(strings.TrimLeft(decodeText(b), "\ufeff"))
	if err != nil {
		return "", err
	}
	type line struct {
		spk  string
		text string
	}
	var merged []line
	if len(caps) > 0 {
		cur := caps[0]
		for _, c := range caps[1:] {
			if !c.has {
				merged = append(merged, line{"", cur.text})
				continue
			}
			if cur.has && c.voice == cur.voice {
				cur.text += " " + c.text
				continue
			}
			merged = append(merged, line{spkName(cur), cur.text})
			cur = c
		}
		merged = append(merged, line{spkName(cur), cur.text})
	}
	out := make([]string, len(merged))
	for i, l := range merged {
		out[i] = l.spk + ` "` + l.text + `"`
	}
	return strings.Join(out, "\n"), nil
}

func spkName(c caption) string {
	if c.has {
		return c.voice
	}
	return ""
}

// parseVTT reads WebVTT cues: blocks separated by blank lines whose
// timing line holds "-->"; the header, NOTE, STYLE and REGION blocks are
// skipped.
func parseVTT(s string) ([]caption, error) {
	lines := splitLines(s)
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "WEBVTT") {
		return nil, errors.New("invalid format: the file does not start with WEBVTT")
	}
	var caps []caption
	var block []string
	flush := func() {
		defer func() { block = block[:0] }()
		for i, l := range block {
			if !strings.Contains(l, "-->") {
				if i == 0 {
					continue // a cue identifier
				}
				return
			}
			text := block[i+1:]
			c := caption{text: vttTag.ReplaceAllString(strings.Join(text, "\n"), "")}
			if len(text) > 0 {
				if m := vttVoice.FindStringSubmatch(text[0]); m != nil {
					c.voice, c.has = m[1], true
				}
			}
			caps = append(caps, c)
			return
		}
	}
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		block = append(block, l)
	}
	flush()
	return caps, nil
}
