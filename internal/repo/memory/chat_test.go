package memory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/repo"
)

func chatConv(i int, at time.Time) *repo.Conversation {
	return &repo.Conversation{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), AppID: "app", User: "u", Name: "c", CreatedAt: at, UpdatedAt: at, Seq: repo.Version(at)}
}

func chatMsg(c *repo.Conversation, i int, answer string, at time.Time) *repo.Message {
	return &repo.Message{ID: fmt.Sprintf("10000000-0000-4000-8000-%012d", i), AppID: "app", ConversationID: c.ID, User: "u", Query: "q", Answer: answer, Status: repo.MessageNormal, CreatedAt: at, UpdatedAt: at, Seq: repo.Version(at)}
}

// Conversations are forgotten whole, least recently written first, past
// either bound; the memory they held is given back.
func TestChatBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := New(Config{Conversations: 2, ChatBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1739000000, 0)
	var convs []*repo.Conversation
	for i := range 3 {
		c := chatConv(i, at.Add(time.Duration(i)*time.Second))
		convs = append(convs, c)
		if err := s.Write(ctx, &repo.Batch{Conversations: []*repo.Conversation{c}, Messages: []*repo.Message{chatMsg(c, i, "a", c.CreatedAt)}}); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			// A turn of the first conversation makes the second the
			// least recently written.
			if err := s.Write(ctx, &repo.Batch{Messages: []*repo.Message{chatMsg(convs[0], 10, "b", c.CreatedAt)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.ConversationGet(ctx, "app", "u", convs[1].ID); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("the least recently written conversation is still kept: %v", err)
	}
	for _, c := range []*repo.Conversation{convs[0], convs[2]} {
		if _, err := s.ConversationGet(ctx, "app", "u", c.ID); err != nil {
			t.Fatalf("conversation %s: %v", c.ID, err)
		}
	}
	// One big answer passes the byte bound: older conversations go, and
	// the bytes kept stay within it.
	big := chatMsg(convs[2], 20, strings.Repeat("x", 60<<10), at.Add(time.Minute))
	if err := s.Write(ctx, &repo.Batch{Messages: []*repo.Message{big}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConversationGet(ctx, "app", "u", convs[0].ID); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("past the byte bound, the older conversation is still kept: %v", err)
	}
	s.chat.mu.RLock()
	defer s.chat.mu.RUnlock()
	if s.chat.bytes > 64<<10 || len(s.chat.convs) != 1 || len(s.chat.msgs) != 2 {
		t.Fatalf("kept %d bytes, %d conversations, %d messages", s.chat.bytes, len(s.chat.convs), len(s.chat.msgs))
	}
}
