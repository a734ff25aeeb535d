package idempotency_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/resilient-http/resilient/transport/idempotency"
	"github.com/resilient-http/resilient/transport/retry"
)

func Example() {
	// A server whose first answer is a 500; it keeps the key of each
	// request it gets.
	var (
		mu   sync.Mutex
		keys []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		if len(keys) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()

	// The key layer goes above retry, so that every attempt carries the
	// same key; with a key, RequireIdempotencyKey lets retry repeat the
	// POST that met a 500.
	rt := retry.New(srv.Client().Transport, retry.Policy{RequireIdempotencyKey: true, BaseDelay: time.Millisecond})
	client := &http.Client{Transport: idempotency.New(rt, idempotency.Policy{})}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/jobs", strings.NewReader(`{"n": 1}`))
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	client.CloseIdleConnections()

	mu.Lock()
	defer mu.Unlock()
	fmt.Println(resp.Status, "after", len(keys), "attempts")
	fmt.Println("one key on both:", keys[0] != "" && keys[0] == keys[1])
	fmt.Println("the key sent is resp.Request's:", resp.Request.Header.Get("Idempotency-Key") == keys[0])
	fmt.Println("the caller's request has none:", req.Header.Get("Idempotency-Key") == "")
	// Output:
	// 200 OK after 2 attempts
	// one key on both: true
	// the key sent is resp.Request's: true
	// the caller's request has none: true
}
