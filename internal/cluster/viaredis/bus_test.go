package viaredis_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/cluster/viaredis"
)

// TestSubscribeEndsWithContext: a subscription waiting for messages ends
// when its context does (go-redis's Receive alone would wait on).
func TestSubscribeEndsWithContext(t *testing.T) {
	t.Parallel()
	bus := viaredis.NewBus(client(t), "test-"+uuid.NewString()[:8])
	ctx, cancel := context.WithCancel(context.Background())
	ready, ended := make(chan struct{}), make(chan error, 1)
	go func() {
		ended <- bus.Subscribe(ctx, func([]byte) {}, func() { close(ready) })
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("not subscribed")
	}
	cancel()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe still waiting 5 s after its context ended")
	}
}
