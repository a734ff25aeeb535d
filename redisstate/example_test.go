package redisstate_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilient-http/resilient/redisstate"
	"github.com/resilient-http/resilient/transport/fleet"
)

// Each replica makes one Store on its own client; the layers read and
// publish through it. (Not run: it needs a Redis server.)
func Example() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true, // lets OpTimeout bound every call
	})
	defer client.Close()
	store, err := redisstate.New(client, redisstate.Options{
		Namespace: "acme-prod",
		Replicas:  3,
		Logger:    slog.Default(),
	})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	// A 402 on this replica: every replica refuses the route until then.
	store.SetUntil(fleet.KindCredits, "POST /batch", time.Now().Add(30*time.Second))
	// Another replica's request path, from its mirror: no I/O.
	_ = store.Until(fleet.KindCredits, "POST /batch")
	// The account's 20 requests/s, shared by the fleet.
	if wait, ok := store.Reserve(context.Background(), "acme", fleet.Limit{Rate: 20, Burst: 5}); !ok {
		time.Sleep(wait) // bounded by the request's deadline in a real pacer
	}
}
