package api

import (
	"context"
	"fmt"

	"github.com/flowrun/flowrun/internal/repo"
)

// noChats is the ChatReader of a server configured without one: every
// read is repo.ErrUnavailable.
type noChats struct{}

var errNoChats = fmt.Errorf("no chat store configured: %w", repo.ErrUnavailable)

func (noChats) Turn(context.Context, *repo.TurnParams) (*repo.Turn, error) { return nil, errNoChats }
func (noChats) ConversationList(context.Context, *repo.ConversationListParams) (*repo.ConversationListResult, error) {
	return nil, errNoChats
}
func (noChats) ConversationGet(context.Context, string, string, string) (*repo.Conversation, error) {
	return nil, errNoChats
}
func (noChats) MessageList(context.Context, *repo.MessageListParams) (*repo.MessageListResult, error) {
	return nil, errNoChats
}
func (noChats) MessageGet(context.Context, string, string, string) (*repo.Message, error) {
	return nil, errNoChats
}
func (noChats) VariableList(context.Context, *repo.VariableListParams) (*repo.VariableListResult, error) {
	return nil, errNoChats
}
func (noChats) FeedbackList(context.Context, *repo.FeedbackListParams) ([]*repo.Feedback, error) {
	return nil, errNoChats
}
