package repo

import "fmt"

// prepareChat is Prepare for b's chat records, appending them to out.
func (b *Batch) prepareChat(out *Batch) error {
	var err error
	if out.Conversations, err = prepareAll(b.Conversations, "conversation", func(c *Conversation) (string, error) {
		c.ID = NormalizeUUID(c.ID)
		if err := checkChat("conversation", c.ID, c.ID, c.AppID, c.Seq); err != nil {
			return "", err
		}
		c.CreatedAt, c.UpdatedAt = NormalizeTime(c.CreatedAt), NormalizeTime(c.UpdatedAt)
		return c.ID, checkJSON("conversation", c.ID, []jsonField{{"inputs", &c.Inputs}})
	}, func(n, o *Conversation) (bool, error) {
		if n.AppID != o.AppID || n.User != o.User {
			return false, fmt.Errorf("conversation %s: two apps or users in one batch: %w", n.ID, ErrConflict)
		}
		return SupersedesChat(n.Deleted, n.Seq, o.Deleted, o.Seq), nil
	}); err != nil {
		return err
	}
	if out.Messages, err = prepareAll(b.Messages, "message", func(m *Message) (string, error) {
		m.ID, m.ConversationID = NormalizeUUID(m.ID), NormalizeUUID(m.ConversationID)
		if err := checkChat("message", m.ID, m.ConversationID, m.AppID, m.Seq); err != nil {
			return "", err
		}
		if m.WorkflowRunID != "" {
			if !ValidUUID(m.WorkflowRunID) {
				return "", fmt.Errorf("message %s: run id %q is not a UUID: %w", m.ID, m.WorkflowRunID, ErrInvalid)
			}
			m.WorkflowRunID = NormalizeUUID(m.WorkflowRunID)
		}
		m.CreatedAt, m.UpdatedAt = NormalizeTime(m.CreatedAt), NormalizeTime(m.UpdatedAt)
		return m.ID, checkJSON("message", m.ID, []jsonField{{"inputs", &m.Inputs}, {"metadata", &m.Metadata}, {"files", &m.Files}})
	}, func(n, o *Message) (bool, error) {
		if n.AppID != o.AppID || n.ConversationID != o.ConversationID {
			return false, fmt.Errorf("message %s: two conversations or apps in one batch: %w", n.ID, ErrConflict)
		}
		return n.Seq > o.Seq, nil
	}); err != nil {
		return err
	}
	if out.Feedbacks, err = prepareAll(b.Feedbacks, "feedback", func(f *Feedback) (string, error) {
		f.ID, f.MessageID, f.ConversationID = NormalizeUUID(f.ID), NormalizeUUID(f.MessageID), NormalizeUUID(f.ConversationID)
		if err := checkChat("feedback", f.ID, f.MessageID, f.AppID, f.Seq); err != nil {
			return "", err
		}
		if !ValidUUID(f.ConversationID) {
			return "", fmt.Errorf("feedback %s: conversation id %q is not a UUID: %w", f.ID, f.ConversationID, ErrInvalid)
		}
		f.CreatedAt, f.UpdatedAt = NormalizeTime(f.CreatedAt), NormalizeTime(f.UpdatedAt)
		return f.ID, nil
	}, func(n, o *Feedback) (bool, error) {
		if n.AppID != o.AppID || n.MessageID != o.MessageID {
			return false, fmt.Errorf("feedback %s: two messages or apps in one batch: %w", n.ID, ErrConflict)
		}
		return SupersedesChat(n.Deleted, n.Seq, o.Deleted, o.Seq), nil
	}); err != nil {
		return err
	}
	out.Variables, err = prepareAll(b.Variables, "conversation variable", func(v *ConversationVariable) (string, error) {
		v.ConversationID = NormalizeUUID(v.ConversationID)
		if v.ID == "" || len(v.ID) > 255 {
			return "", fmt.Errorf("conversation variable %q: id missing or too long: %w", v.ID, ErrInvalid)
		}
		if err := checkChat("conversation variable", v.ConversationID, v.ConversationID, v.AppID, v.Seq); err != nil {
			return "", err
		}
		v.CreatedAt, v.UpdatedAt = NormalizeTime(v.CreatedAt), NormalizeTime(v.UpdatedAt)
		return v.ConversationID + "/" + v.ID, checkJSON("conversation variable", v.ID, []jsonField{{"value", &v.Value}})
	}, func(n, o *ConversationVariable) (bool, error) {
		if n.AppID != o.AppID {
			return false, fmt.Errorf("conversation variable %s: two apps in one batch: %w", n.ID, ErrConflict)
		}
		return n.Seq > o.Seq, nil
	})
	return err
}

// prepareAll copies, checks and deduplicates one kind of chat record:
// check normalises a copy and returns its key; wins reports whether a
// later version replaces the one kept.
func prepareAll[T any](recs []*T, kind string, check func(*T) (string, error), wins func(n, o *T) (bool, error)) ([]*T, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	out := make([]*T, 0, len(recs))
	at := make(map[string]int, len(recs))
	for i, r := range recs {
		if r == nil {
			return nil, fmt.Errorf("%s %d is nil: %w", kind, i, ErrInvalid)
		}
		c := *r
		key, err := check(&c)
		if err != nil {
			return nil, err
		}
		j, ok := at[key]
		if !ok {
			at[key] = len(out)
			out = append(out, &c)
			continue
		}
		replace, err := wins(&c, out[j])
		if err != nil {
			return nil, err
		}
		if replace {
			out[j] = &c
		}
	}
	return out, nil
}

// checkChat validates a chat record's ids: id and parent (the record it
// belongs to) must be UUIDs.
func checkChat(kind, id, parent, appID string, seq int64) error {
	switch {
	case !ValidUUID(id):
		return fmt.Errorf("%s id %q is not a UUID: %w", kind, id, ErrInvalid)
	case !ValidUUID(parent):
		return fmt.Errorf("%s %s: parent id %q is not a UUID: %w", kind, id, parent, ErrInvalid)
	case appID == "":
		return fmt.Errorf("%s %s: no app id: %w", kind, id, ErrInvalid)
	case seq < 0:
		return fmt.Errorf("%s %s: negative seq %d: %w", kind, id, seq, ErrInvalid)
	}
	return nil
}
