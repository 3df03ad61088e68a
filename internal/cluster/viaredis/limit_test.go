package viaredis_test

import (
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/flowrun/flowrun/internal/cluster/clustertest"
	"github.com/flowrun/flowrun/internal/cluster/viaredis"
)

// client returns a client of TEST_REDIS_URL, closed when the test ends.
func client(t testing.TB) *redis.Client {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		t.Fatal("TEST_REDIS_URL is not set: run the tests with scripts/test.sh")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	clustertest.Exercise(t, func(t *testing.T) clustertest.NewFunc {
		rdb, prefix := client(t), "test:"+uuid.NewString()+":"
		return func(t *testing.T, _ string, lease time.Duration) clustertest.Limiter {
			l, err := viaredis.NewLimiter(rdb, viaredis.LimitConfig{Prefix: prefix, Lease: lease})
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
	})
}

// BenchmarkLimiter: a run's slot taken and freed (two round trips).
func BenchmarkLimiter(b *testing.B) {
	l, err := viaredis.NewLimiter(client(b), viaredis.LimitConfig{Prefix: "bench:" + uuid.NewString() + ":"})
	if err != nil {
		b.Fatal(err)
	}
	clustertest.Bench(b, l)
}
