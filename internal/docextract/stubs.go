package docextract

import "errors"

var errNotYet = errors.New("this format is not supported by flowrun yet")

func epubText(data []byte, lim Limits) (string, error) { return "", errNotYet }
