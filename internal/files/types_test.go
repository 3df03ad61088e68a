package files

import "testing"

func TestFileTypeAndExtensions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ ext, mime, want string }{
		{".png", "image/png", "image"},
		{".PDF", "application/pdf", "document"},
		{".bin", "application/octet-stream", "custom"},
		{".mp3", "audio/mpeg", "audio"},
		{".mov", "video/quicktime", "video"},
		{".weird", "image/x-weird", "image"},
		{".weird", "video/x-weird", "video"},
		{".weird", "audio/x-weird", "audio"},
		{".weird", "text/x-weird", "document"},
		{".zip", "application/zip", "custom"},
	} {
		if got := TypeOf(c.ext, c.mime); got != c.want {
			t.Errorf("TypeOf(%q, %q) = %q, want %q", c.ext, c.mime, got, c.want)
		}
	}
	for mt, ext := range map[string]string{"image/jpeg": ".jpg", "application/pdf": ".pdf", "application/x-made-up": ".bin"} {
		if got := ExtByMime(mt); got != ext {
			t.Errorf("ExtByMime(%q) = %q, want %q", mt, got, ext)
		}
	}
	for ext, mt := range map[string]string{".jpeg": "image/jpeg", ".PNG": "image/png", ".made-up": "", "": ""} {
		if got := MimeByExt(ext); got != mt {
			t.Errorf("MimeByExt(%q) = %q, want %q", ext, got, mt)
		}
	}
}

func TestDecodeDataURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"data:text/plain;base64,aGVsbG8=":  "hello",
		"data:text/plain;base64,aGVsbG8":   "hello",
		"data:,hello%20world":              "hello world",
		"data:text/plain;charset=utf-8,hi": "hi",
	} {
		got, err := DecodeDataURL(in)
		if err != nil || string(got) != want {
			t.Errorf("DecodeDataURL(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"data:text/plain;base64", "data:;base64,!!!", "http://x"} {
		if _, err := DecodeDataURL(in); err == nil {
			t.Errorf("DecodeDataURL(%q) succeeded", in)
		}
	}
}
