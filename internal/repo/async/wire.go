package async

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/flowrun/flowrun/internal/repo"
)

// The wireBin payload: the byte wireBin, the send time, then the runs, the
// node executions and the app logs, each a count followed by its records.
// The wireBinChat payload, for a batch with chat records: the byte
// wireBinChat, then as wireBin, followed by the conversations, messages,
// feedback and conversation variables. (A batch without chat records
// keeps the older wireBin, which persisters that predate chat records
// read.) A record is its fields in the order of runFields, nodeFields,
// logFields, convFields, msgFields, feedbackFields and varFields, each as
//
//   - string: uvarint length, bytes;
//   - JSON: uvarint length+1 (0 for nil), bytes;
//   - int64: zig-zag varint;
//   - float64: 8 bytes, IEEE 754, little-endian;
//   - bool: one byte, 0 or 1;
//   - time: 0 for the zero time, else 1, varint Unix seconds, uvarint
//     nanoseconds (decoded in UTC).
//
// One field list per record type drives both directions, so encoder and
// decoder cannot disagree; TestWireCoversEveryField fails when a record
// type gains a field the list lacks. Adding a field changes the format:
// it takes a new version byte.

// fields is one direction of the codec: it visits a record's fields.
type fields interface {
	str(*string)
	json(*json.RawMessage)
	int(*int64)
	float(*float64)
	bool(*bool)
	time(*time.Time)
}

func runFields(f fields, r *repo.WorkflowRun) {
	f.str(&r.ID)
	f.str(&r.TenantID)
	f.str(&r.AppID)
	f.str(&r.WorkflowID)
	f.str(&r.Type)
	f.str(&r.TriggeredFrom)
	f.str(&r.Version)
	f.json(&r.Graph)
	f.json(&r.Inputs)
	f.str((*string)(&r.Status))
	f.json(&r.Outputs)
	f.str(&r.Error)
	f.float(&r.ElapsedTime)
	f.int(&r.TotalTokens)
	f.int(&r.TotalSteps)
	f.int(&r.ExceptionsCount)
	f.str(&r.CreatedByRole)
	f.str(&r.CreatedBy)
	f.str(&r.SessionID)
	f.time(&r.CreatedAt)
	f.time(&r.FinishedAt)
	f.str(&r.InstanceID)
	f.int(&r.Seq)
}

func nodeFields(f fields, n *repo.NodeExecution) {
	f.str(&n.ID)
	f.str(&n.TenantID)
	f.str(&n.AppID)
	f.str(&n.WorkflowID)
	f.str(&n.TriggeredFrom)
	f.str(&n.WorkflowRunID)
	f.int(&n.Index)
	f.str(&n.PredecessorNodeID)
	f.str(&n.NodeID)
	f.str(&n.NodeType)
	f.str(&n.Title)
	f.json(&n.Inputs)
	f.json(&n.ProcessData)
	f.json(&n.Outputs)
	f.str((*string)(&n.Status))
	f.str(&n.Error)
	f.float(&n.ElapsedTime)
	f.json(&n.Metadata)
	f.str(&n.IterationID)
	f.str(&n.LoopID)
	f.str(&n.CreatedByRole)
	f.str(&n.CreatedBy)
	f.time(&n.CreatedAt)
	f.time(&n.FinishedAt)
	f.int(&n.Seq)
}

func logFields(f fields, l *repo.AppLog) {
	f.str(&l.ID)
	f.str(&l.TenantID)
	f.str(&l.AppID)
	f.str(&l.WorkflowID)
	f.str(&l.WorkflowRunID)
	f.str(&l.CreatedFrom)
	f.str(&l.CreatedByRole)
	f.str(&l.CreatedBy)
	f.str(&l.SessionID)
	f.time(&l.CreatedAt)
	f.int(&l.Seq)
}

func convFields(f fields, c *repo.Conversation) {
	f.str(&c.ID)
	f.str(&c.AppID)
	f.str(&c.User)
	f.str(&c.Name)
	f.json(&c.Inputs)
	f.str(&c.Introduction)
	f.str(&c.Status)
	f.time(&c.CreatedAt)
	f.time(&c.UpdatedAt)
	f.bool(&c.Deleted)
	f.int(&c.Seq)
}

func msgFields(f fields, m *repo.Message) {
	f.str(&m.ID)
	f.str(&m.AppID)
	f.str(&m.ConversationID)
	f.str(&m.User)
	f.str(&m.WorkflowRunID)
	f.json(&m.Inputs)
	f.str(&m.Query)
	f.str(&m.Answer)
	f.str(&m.Status)
	f.str(&m.Error)
	f.json(&m.Metadata)
	f.json(&m.Files)
	f.int(&m.MessageTokens)
	f.int(&m.AnswerTokens)
	f.str(&m.TotalPrice)
	f.str(&m.Currency)
	f.float(&m.Latency)
	f.time(&m.CreatedAt)
	f.time(&m.UpdatedAt)
	f.int(&m.Seq)
}

func feedbackFields(f fields, fb *repo.Feedback) {
	f.str(&fb.ID)
	f.str(&fb.AppID)
	f.str(&fb.ConversationID)
	f.str(&fb.MessageID)
	f.str(&fb.User)
	f.str(&fb.Rating)
	f.str(&fb.Content)
	f.str(&fb.FromSource)
	f.time(&fb.CreatedAt)
	f.time(&fb.UpdatedAt)
	f.bool(&fb.Deleted)
	f.int(&fb.Seq)
}

func varFields(f fields, v *repo.ConversationVariable) {
	f.str(&v.ID)
	f.str(&v.ConversationID)
	f.str(&v.AppID)
	f.str(&v.Name)
	f.str(&v.ValueType)
	f.str(&v.Description)
	f.json(&v.Value)
	f.time(&v.CreatedAt)
	f.time(&v.UpdatedAt)
	f.int(&v.Seq)
}

// encoder appends fields to b.
type encoder struct{ b []byte }

func (e *encoder) str(s *string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(*s)))
	e.b = append(e.b, *s...)
}

func (e *encoder) json(j *json.RawMessage) {
	if *j == nil {
		e.b = append(e.b, 0)
		return
	}
	e.b = binary.AppendUvarint(e.b, uint64(len(*j))+1)
	e.b = append(e.b, *j...)
}

func (e *encoder) int(v *int64) { e.b = binary.AppendVarint(e.b, *v) }
func (e *encoder) float(v *float64) {
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(*v))
}

func (e *encoder) bool(v *bool) {
	if *v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) time(t *time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.b = binary.AppendVarint(e.b, t.Unix())
	e.b = binary.AppendUvarint(e.b, uint64(t.Nanosecond()))
}

// encodeRecords appends a count and each record.
func encodeRecords[T any](e *encoder, recs []*T, visit func(fields, *T)) {
	e.b = binary.AppendUvarint(e.b, uint64(len(recs)))
	for _, r := range recs {
		visit(e, r)
	}
}

// encodeBin encodes b as a wireBin payload, or wireBinChat if it holds
// chat records.
func encodeBin(b *repo.Batch, sent time.Time) []byte {
	chat := len(b.Conversations)+len(b.Messages)+len(b.Feedbacks)+len(b.Variables) > 0
	e := &encoder{b: make([]byte, 0, 64+400*b.Len())}
	if chat {
		e.b = append(e.b, wireBinChat)
	} else {
		e.b = append(e.b, wireBin)
	}
	e.time(&sent)
	encodeRecords(e, b.Runs, runFields)
	encodeRecords(e, b.NodeExecutions, nodeFields)
	encodeRecords(e, b.AppLogs, logFields)
	if chat {
		encodeRecords(e, b.Conversations, convFields)
		encodeRecords(e, b.Messages, msgFields)
		encodeRecords(e, b.Feedbacks, feedbackFields)
		encodeRecords(e, b.Variables, varFields)
	}
	return e.b
}

// decoder reads fields from b, stopping at the first error. Strings are
// copied; JSON values alias b (a task's payload, never modified).
type decoder struct {
	b   []byte
	err error
	// seen interns short strings: most repeat in every record of a batch
	// (app, workflow, tenant, user, status, node titles).
	seen map[string]string
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or malformed %s", ErrBadPayload, what)
	}
	d.b = nil
}

// uvarint reads a length or count, which cannot exceed the bytes left.
func (d *decoder) length(what string) int {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > uint64(len(d.b)-n) {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *decoder) bytes(n int, what string) []byte {
	if n > len(d.b) {
		d.fail(what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str(s *string) {
	b := d.bytes(d.length("string"), "string")
	if len(b) > 32 { // ids (36 bytes) are unique
		*s = string(b)
		return
	}
	if v, ok := d.seen[string(b)]; ok {
		*s = v
		return
	}
	*s = string(b)
	d.seen[*s] = *s
}

func (d *decoder) json(j *json.RawMessage) {
	n := d.length("JSON")
	if n == 0 {
		*j = nil
		return
	}
	*j = d.bytes(n-1, "JSON")
}

func (d *decoder) int(v *int64) {
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("integer")
		return
	}
	*v, d.b = x, d.b[n:]
}

func (d *decoder) float(v *float64) {
	if b := d.bytes(8, "float"); len(b) == 8 {
		*v = math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
}

func (d *decoder) bool(v *bool) {
	switch b := d.bytes(1, "bool"); {
	case len(b) == 0:
	case b[0] > 1:
		d.fail("bool")
	default:
		*v = b[0] == 1
	}
}

func (d *decoder) time(t *time.Time) {
	switch flag := d.bytes(1, "time"); {
	case len(flag) == 0:
		return
	case flag[0] == 0:
		*t = time.Time{}
		return
	case flag[0] != 1:
		d.fail("time")
		return
	}
	var sec int64
	d.int(&sec)
	nsec, n := binary.Uvarint(d.b)
	if d.err != nil || n <= 0 || nsec >= 1e9 {
		d.fail("time")
		return
	}
	*t, d.b = time.Unix(sec, int64(nsec)).UTC(), d.b[n:]
}

// minRecord is the fewest bytes a record takes: a conversation
// variable's 10 fields of at least one byte each.
const minRecord = 10

// decodeRecords reads a count and that many records. The count cannot
// exceed what the bytes left could hold, which bounds the allocation by
// the payload's size.
func decodeRecords[T any](d *decoder, visit func(fields, *T)) []*T {
	n := d.length("count")
	if n > len(d.b)/minRecord {
		d.fail("count")
	}
	if n == 0 || d.err != nil {
		return nil
	}
	all := make([]T, n)
	out := make([]*T, n)
	for i := range all {
		visit(d, &all[i])
		out[i] = &all[i]
	}
	return out
}

// decodeBin decodes a wireBin payload, or with chat set a wireBinChat
// one (without its version byte), and tells when it was sent.
func decodeBin(data []byte, chat bool) (*repo.Batch, time.Time, error) {
	d := &decoder{b: data, seen: make(map[string]string, 64)}
	var sent time.Time
	d.time(&sent)
	b := &repo.Batch{
		Runs:           decodeRecords(d, runFields),
		NodeExecutions: decodeRecords(d, nodeFields),
		AppLogs:        decodeRecords(d, logFields),
	}
	if chat {
		b.Conversations = decodeRecords(d, convFields)
		b.Messages = decodeRecords(d, msgFields)
		b.Feedbacks = decodeRecords(d, feedbackFields)
		b.Variables = decodeRecords(d, varFields)
	}
	if d.err != nil {
		return nil, time.Time{}, d.err
	}
	if len(d.b) != 0 {
		return nil, time.Time{}, fmt.Errorf("%w: trailing data", ErrBadPayload)
	}
	return b, sent, nil
}
