package openapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// emptyResponse is Dify's text for a response without a body.
const emptyResponse = "Empty response from the tool, please check your parameters and try again."

// errTooLarge is wrapped by a response over the size limit.
var errTooLarge = errors.New("response too large")

// messages turns a response into Dify's ApiTool messages.
func (p *Provider) messages(resp *http.Response) ([]tools.Message, error) {
	if resp.StatusCode >= 400 {
		text, err := readLimited(resp, p.opt.MaxTextSize)
		if err != nil {
			return nil, err
		}
		return nil, tools.InvokeErrorf("Request failed with status code %d and %s", resp.StatusCode, text)
	}
	ct := resp.Header.Get("Content-Type")
	mimeType := strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	if disp, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); disp == "attachment" {
		blob, err := readLimited(resp, p.opt.MaxFileSize)
		if err != nil {
			return nil, err
		}
		if len(blob) == 0 {
			return []tools.Message{tools.TextMessage(emptyResponse)}, nil
		}
		if mimeType == "" {
			mimeType = "application/octet-stream"
		}
		return []tools.Message{tools.BlobMessage(blob, mimeType, "")}, nil
	}
	body, err := readLimited(resp, p.opt.MaxTextSize)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return []tools.Message{tools.TextMessage(emptyResponse)}, nil
	}
	text := strings.ToValidUTF8(string(body), "\uFFFD")
	if !strings.Contains(strings.ToLower(ct), "application/json") {
		return []tools.Message{tools.TextMessage(text)}, nil
	}
	v, err := pyjson.Loads(text)
	if err != nil {
		return []tools.Message{tools.TextMessage(text)}, nil
	}
	var out []tools.Message
	if obj, ok := v.(*pyjson.Object); ok {
		out = append(out, tools.JSONMessage(obj.Map()))
	}
	// Dify also sends the body as text, for backward compatibility.
	return append(out, tools.TextMessage(text)), nil
}

// readLimited reads the body, failing with Dify's size message when it
// is longer than limit bytes.
func readLimited(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, &tools.Error{Type: tools.ErrTypeInvoke, Err: sizeError{"Response size " + strconv.FormatInt(resp.ContentLength, 10) + " exceeds the maximum allowed size " + strconv.FormatInt(limit, 10) + " bytes"}}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, tools.InvokeErrorf("reading the response: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, &tools.Error{Type: tools.ErrTypeInvoke, Err: sizeError{"Response size exceeds the maximum allowed size " + strconv.FormatInt(limit, 10) + " bytes"}}
	}
	return b, nil
}

// sizeError is a response over its limit; it wraps errTooLarge.
type sizeError struct{ msg string }

func (e sizeError) Error() string { return e.msg }
func (e sizeError) Unwrap() error { return errTooLarge }
