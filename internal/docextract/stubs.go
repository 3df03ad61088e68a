package docextract

import "errors"

var errNotYet = errors.New("not supported yet")

func excelText(data []byte, lim Limits) (string, error) { return "", errNotYet }
func pptxText(data []byte, lim Limits) (string, error)  { return "", errNotYet }
func epubText(data []byte, lim Limits) (string, error)  { return "", errNotYet }
func emlText(data []byte, lim Limits) (string, error)   { return "", errNotYet }
