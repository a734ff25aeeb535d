package main

import (
	"embed"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// bodies holds real error bodies of the partner API (FastAPI/Pydantic).
//
//go:embed bodies/*.json
var bodies embed.FS

// fakeAPI imitates the partner API's error contract with a scripted story:
// the first enhancement submit is rate limited, results fail twice before
// succeeding, credits run out after two batches. Each accepted submit
// reports the batches left in "meta.imports_remaining", as the partner's
// documentation advises clients to check.
type fakeAPI struct {
	URL string
	srv *http.Server

	hits atomic.Int64 // requests received
	down atomic.Bool  // when set, every request gets a 503

	mu          sync.Mutex
	keys        map[string]bool // Idempotency-Key values seen
	keyed       int             // requests that carried one
	submits     int             // enhancement submits accepted for validation
	credits     int             // batches left
	jobs        int             // batches accepted
	resultCalls int
}

func startFakeAPI() (*fakeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	api := &fakeAPI{URL: "http://" + ln.Addr().String(), credits: 2, keys: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/enhancements", api.enhance)
	mux.HandleFunc("GET /v1/jobs/{id}/results", api.results)
	mux.HandleFunc("GET /v1/jobs/{id}/progress", api.progress)
	mux.HandleFunc("POST /v1/lists", api.createList)
	api.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.hits.Add(1)
		if k := r.Header.Get("Idempotency-Key"); k != "" {
			api.mu.Lock()
			api.keys[k] = true
			api.keyed++
			api.mu.Unlock()
		}
		if api.down.Load() {
			detail(w, http.StatusServiceUnavailable, "Service Unavailable")
			return
		}
		mux.ServeHTTP(w, r)
	})}
	go api.srv.Serve(ln)
	return api, nil
}

// keyCounts returns how many requests carried an Idempotency-Key, and how
// many distinct keys were seen.
func (a *fakeAPI) keyCounts() (keyed, distinct int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.keyed, len(a.keys)
}

// addCredits tops up the account by n batches.
func (a *fakeAPI) addCredits(n int) {
	a.mu.Lock()
	a.credits += n
	a.mu.Unlock()
}

// spendElsewhere spends one batch as another client of the same account
// would: this client sees no response that says so.
func (a *fakeAPI) spendElsewhere() {
	a.mu.Lock()
	a.credits = max(a.credits-1, 0)
	a.mu.Unlock()
}

// Close stops the server and its connections.
func (a *fakeAPI) Close() error { return a.srv.Close() }

func (a *fakeAPI) enhance(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Persons []map[string]any `json:"persons"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		detail(w, http.StatusBadRequest, "Malformed JSON body")
		return
	}
	for _, p := range in.Persons {
		if _, ok := p["name"]; !ok {
			file(w, http.StatusUnprocessableEntity, "422-missing-name.json")
			return
		}
	}
	a.mu.Lock()
	a.submits++
	first := a.submits == 1
	ok := !first && a.credits > 0
	if ok {
		a.credits--
		a.jobs++
	}
	left, job := a.credits, a.jobs
	a.mu.Unlock()
	switch {
	case first:
		w.Header().Set("Retry-After", "1")
		detail(w, http.StatusTooManyRequests, "Rate limit exceeded")
	case !ok:
		file(w, http.StatusPaymentRequired, "402-insufficient-credits.json")
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"job_id": fmt.Sprintf("job_%d", job), "meta": map[string]int{"imports_remaining": left}})
	}
}

func (a *fakeAPI) results(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") != "job_1" {
		file(w, http.StatusNotFound, "404-fastapi-default.json")
		return
	}
	a.mu.Lock()
	a.resultCalls++
	n := a.resultCalls
	a.mu.Unlock()
	if n <= 2 {
		detail(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"job_id": "job_1", "status": "done", "persons": 2})
}

func (a *fakeAPI) progress(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "3600")
	detail(w, http.StatusTooManyRequests, "Rate limit exceeded")
}

func (a *fakeAPI) createList(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	json.NewDecoder(r.Body).Decode(&in)
	detail(w, http.StatusBadRequest, fmt.Sprintf("A list named %q already exists", in.Name))
}

func detail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"detail": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func file(w http.ResponseWriter, status int, name string) {
	b, err := bodies.ReadFile("bodies/" + name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
