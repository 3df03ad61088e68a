package viapg_test

import (
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/cluster/clustertest"
	"github.com/flowrun/flowrun/internal/cluster/viapg"
	"github.com/flowrun/flowrun/internal/dbtest"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	clustertest.Exercise(t, func(t *testing.T) clustertest.NewFunc {
		pool := dbtest.Pool(t)
		return func(t *testing.T, instance string, lease time.Duration) clustertest.Limiter {
			l, err := viapg.NewLimiter(pool, viapg.LimitConfig{InstanceID: instance, Lease: lease})
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
	})
}

// BenchmarkLimiter: a run's slot taken and freed (two round trips).
func BenchmarkLimiter(b *testing.B) {
	l, err := viapg.NewLimiter(dbtest.Pool(b), viapg.LimitConfig{InstanceID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	clustertest.Bench(b, l)
}
