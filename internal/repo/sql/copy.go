package sql

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/repo"
)

// copyStmt returns the COPY statement that reads tb's rows in the binary
// format copyData writes.
func (tb table[T]) copyStmt() string {
	return fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", tb.name, tb.writeColumns())
}

// copyHeader starts PostgreSQL's binary COPY format: the signature, no
// flags, no header extension.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// pgEpoch is timestamptz's zero, in Unix microseconds.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// copyData encodes rows in PostgreSQL's binary COPY format, each value in
// its column type's binary form (no text parsing on the server but for
// jsonb), sanitised as args sanitises. Ids were validated by
// repo.Batch.Prepare; a malformed one is ErrInvalid.
//
// Writing the format here rather than through pgx.CopyFrom halves the
// persister's encoding CPU: pgx looks up an encode plan per value.
func (tb table[T]) copyData(rows []T) ([]byte, error) {
	out := make([]byte, 0, 64+len(rows)*512)
	out = append(out, copyHeader...)
	field := func(v []byte) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	null := func() { out = binary.BigEndian.AppendUint32(out, math.MaxUint32) } // -1
	cols := tb.writeCols()
	for _, r := range rows {
		out = binary.BigEndian.AppendUint16(out, uint16(len(cols)))
		for _, c := range cols {
			switch v := c.get(r); c.kind {
			case kText:
				s := sanitizeText(v.(string))
				out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
				out = append(out, s...)
			case kUUID, kUUIDNull:
				s := v.(string)
				if s == "" && c.kind == kUUIDNull {
					null()
					continue
				}
				id, err := uuid.Parse(s)
				if err != nil {
					return nil, fmt.Errorf("%s.%s %q: %w", tb.name, c.name, s, repo.ErrInvalid)
				}
				field(id[:])
			case kJSON:
				raw := v.(json.RawMessage)
				if raw == nil {
					null()
					continue
				}
				raw = sanitizeJSON(raw)
				out = binary.BigEndian.AppendUint32(out, uint32(1+len(raw)))
				out = append(out, 1) // jsonb's binary format version
				out = append(out, raw...)
			case kFloat:
				out = binary.BigEndian.AppendUint32(out, 8)
				out = binary.BigEndian.AppendUint64(out, math.Float64bits(v.(float64)))
			case kInt:
				out = binary.BigEndian.AppendUint32(out, 8)
				out = binary.BigEndian.AppendUint64(out, uint64(v.(int64)))
			case kBool:
				out = binary.BigEndian.AppendUint32(out, 1)
				if v.(bool) {
					out = append(out, 1)
				} else {
					out = append(out, 0)
				}
			case kDate:
				out = binary.BigEndian.AppendUint32(out, 4)
				out = binary.BigEndian.AppendUint32(out, uint32(int32((v.(time.Time).Unix()-pgEpoch/1e6)/86400)))
			case kTime, kTimeNull:
				t := v.(time.Time)
				if t.IsZero() && c.kind == kTimeNull {
					null()
					continue
				}
				out = binary.BigEndian.AppendUint32(out, 8)
				out = binary.BigEndian.AppendUint64(out, uint64(t.UnixMicro()-pgEpoch))
			}
		}
	}
	return binary.BigEndian.AppendUint16(out, math.MaxUint16), nil // -1: end
}
