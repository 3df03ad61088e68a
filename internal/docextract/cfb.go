package docextract

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf16"
)

// cfbMagic opens every Compound File Binary (OLE2) container.
var cfbMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

var errCFB = errors.New("not a valid OLE2 compound file")

// cfbStream returns the stream named name (case-insensitively) of a
// Compound File Binary container ([MS-CFB]), as olefile and xlrd's
// compdoc find it. Every sector chain is bounded by the file's size and
// checked for loops, so a forged container ends in errCFB.
func cfbStream(data []byte, name string) ([]byte, error) {
	if len(data) < 512 || !bytes.HasPrefix(data, cfbMagic) {
		return nil, errCFB
	}
	le := binary.LittleEndian
	shift := le.Uint16(data[0x1E:])
	if shift != 9 && shift != 12 {
		return nil, errCFB
	}
	c := &cfb{data: data, size: 1 << shift, miniSize: 64}
	c.nsect = (len(data) - c.size) / c.size
	// The FAT's sectors: 109 in the header, the rest in DIFAT sectors.
	var fatSects []uint32
	for i := 0; i < 109; i++ {
		fatSects = append(fatSects, le.Uint32(data[0x4C+4*i:]))
	}
	difat, err := c.chainOf(le.Uint32(data[0x44:]), c.nsect, func(s uint32) uint32 {
		b := c.sector(s)
		return le.Uint32(b[len(b)-4:])
	})
	if err != nil {
		return nil, err
	}
	for _, s := range difat {
		b := c.sector(s)
		for i := 0; i+4 < len(b); i += 4 {
			fatSects = append(fatSects, le.Uint32(b[i:]))
		}
	}
	for _, s := range fatSects {
		if s >= uint32(c.nsect) {
			continue // free or end markers
		}
		b := c.sector(s)
		for i := 0; i < len(b); i += 4 {
			c.fat = append(c.fat, le.Uint32(b[i:]))
		}
	}
	dir, err := c.read(le.Uint32(data[0x30:]), -1)
	if err != nil {
		return nil, err
	}
	var root, found []byte
	for i := 0; i+128 <= len(dir); i += 128 {
		e := dir[i : i+128]
		n := int(le.Uint16(e[0x40:]))
		if n < 2 || n > 64 {
			continue
		}
		u := make([]uint16, n/2-1)
		for j := range u {
			u[j] = le.Uint16(e[2*j:])
		}
		switch e[0x42] {
		case 5:
			if root == nil {
				root = e
			}
		case 2:
			if found == nil && strings.EqualFold(string(utf16.Decode(u)), name) {
				found = e
			}
		}
	}
	if found == nil || root == nil {
		return nil, errCFB
	}
	size := int64(le.Uint32(found[0x78:]))
	start := le.Uint32(found[0x74:])
	if size > int64(len(data)) {
		return nil, errCFB
	}
	if size >= int64(le.Uint32(data[0x38:])) {
		return c.read(start, int(size))
	}
	// A small stream lives in the mini stream, the root's data, in
	// 64-byte sectors chained by the mini FAT.
	minifat, err := c.read(le.Uint32(data[0x3C:]), -1)
	if err != nil {
		return nil, err
	}
	rootSize := int64(le.Uint32(root[0x78:]))
	if rootSize > int64(len(data)) {
		return nil, errCFB
	}
	mini, err := c.read(le.Uint32(root[0x74:]), int(rootSize))
	if err != nil {
		return nil, err
	}
	nmini := uint32(len(mini) / c.miniSize)
	sects, err := c.chainOf(start, int(nmini), func(s uint32) uint32 {
		if int(s)*4+4 > len(minifat) {
			return cfbEnd
		}
		return le.Uint32(minifat[4*s:])
	})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, size)
	for _, s := range sects {
		out = append(out, mini[int(s)*c.miniSize:int(s+1)*c.miniSize]...)
	}
	if int64(len(out)) < size {
		return nil, errCFB
	}
	return out[:size], nil
}

const cfbEnd = 0xFFFFFFFE

type cfb struct {
	data     []byte
	size     int // sector size
	miniSize int
	nsect    int
	fat      []uint32
}

func (c *cfb) sector(s uint32) []byte {
	off := (int(s) + 1) * c.size
	return c.data[off : off+c.size]
}

// chainOf follows a chain from start with next, stopping at an end
// marker; a sector number from limit on, or a chain of more than limit
// sectors (a loop), is errCFB.
func (c *cfb) chainOf(start uint32, limit int, next func(uint32) uint32) ([]uint32, error) {
	var out []uint32
	for s := start; s != cfbEnd && s != 0xFFFFFFFF; s = next(s) {
		if int64(s) >= int64(limit) || len(out) >= limit {
			return nil, errCFB
		}
		out = append(out, s)
	}
	return out, nil
}

// read returns the bytes of the FAT chain from start, size bytes of them
// (all when size < 0).
func (c *cfb) read(start uint32, size int) ([]byte, error) {
	sects, err := c.chainOf(start, c.nsect, func(s uint32) uint32 {
		if int(s) >= len(c.fat) {
			return cfbEnd
		}
		return c.fat[s]
	})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(sects)*c.size)
	for _, s := range sects {
		out = append(out, c.sector(s)...)
	}
	if size >= 0 {
		if size > len(out) {
			return nil, errCFB
		}
		out = out[:size]
	}
	return out, nil
}
