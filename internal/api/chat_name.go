package api

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// Namer names a new conversation after its first query (Dify's
// generate_conversation_name, with the workspace's default model).
type Namer interface {
	Name(ctx context.Context, wf *run.Workflow, query string) (string, error)
}

// nameTimeout bounds one naming call.
const nameTimeout = 30 * time.Second

// nameLater names a new conversation in the background, as Dify does in
// a thread after the first turn: the name is stored once the model
// answers; until then, and if it fails, the conversation keeps the name
// it was created with. Shutdown waits for it like a run.
func (s *Server) nameLater(a *app.App, conv *repo.Conversation, query string) {
	if s.cfg.Namer == nil {
		return
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return
	}
	s.runs.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.runs.Done()
		ctx, cancel := context.WithTimeout(s.runCtx, nameTimeout)
		defer cancel()
		name, ok := s.generateName(ctx, a, conv.ID, query)
		if !ok || name == conv.Name {
			return
		}
		now := s.cfg.Clock()
		c := *conv
		c.Name, c.Seq = name, repo.Version(now)
		if err := s.cfg.Records.Write(ctx, &repo.Batch{Conversations: []*repo.Conversation{&c}}); err != nil {
			s.log.Warn("storing a conversation's name", "app_id", a.ID, "conversation_id", conv.ID, "err", err)
		}
	}()
}

// generateName asks the Namer for a name; ok is false when it has no
// model to ask (errors.ErrUnsupported): the name stays as it is.
func (s *Server) generateName(ctx context.Context, a *app.App, convID, query string) (name string, ok bool) {
	name, err := s.cfg.Namer.Name(ctx, a.Workflow, query)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return "", false
	case err != nil:
		s.log.Warn("naming a conversation", "app_id", a.ID, "conversation_id", convID, "err", err)
		return fallbackName(query), true
	}
	return cleanName(name, query), true
}

// cleanName is Dify's last step: trimmed, the query when empty, at most
// 75 characters (then "...").
func cleanName(name, query string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		name = query
	}
	if utf8.RuneCountInString(name) > 75 {
		name = string([]rune(name)[:75]) + "..."
	}
	return name
}

// fallbackName is the name Dify gives when the model fails: the query,
// cut to 47 characters and "..." when over 50.
func fallbackName(query string) string {
	if utf8.RuneCountInString(query) > 50 {
		return string([]rune(query)[:47]) + "..."
	}
	return query
}
