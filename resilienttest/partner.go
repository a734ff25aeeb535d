package resilienttest

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// bodies holds real error bodies of the partner API (FastAPI on
// Pydantic 2), so that a client's decoder meets what the field sends.
//
//go:embed testdata/*.json
var bodies embed.FS

// The routes of a [PartnerServer], as ServeMux patterns: the names its
// methods take.
const (
	RouteEnhancements = "POST /v1/enhancements"
	RouteResults      = "GET /v1/jobs/{id}/results"
	RouteProgress     = "GET /v1/jobs/{id}/progress"
	RouteLists        = "POST /v1/lists"
)

// DefaultCredits is how many enhancement batches a new [PartnerServer]
// accepts before it answers 402.
const DefaultCredits = 100

// PartnerServer imitates the partner API's error contract on a [Server]:
//
//   - POST /v1/enhancements takes {"persons":[{"name":…},…]}: a person
//     without a name gets a 422 with Pydantic's body (a violation for
//     each such person, by index, with its input), more than 100 persons
//     a 422 too, a malformed body a 400; otherwise the batch
//     spends one credit and gets 202 {"job_id":"job_N","meta":
//     {"imports_remaining":left}}, and once credits are out, 402
//     {"detail":"Insufficient credits"}.
//   - GET /v1/jobs/{id}/results and /progress answer 200 for a job it
//     accepted, 404 for another.
//   - POST /v1/lists takes {"name":…}: 201, a 422 for an empty name, a
//     400 for a name already taken.
//   - Other paths get FastAPI's 404, other methods its 405.
//
// Faults are scripted per route with [PartnerServer.RateLimit] and
// [PartnerServer.Fail]: they answer before the route's handler, so they
// spend no credit. The embedded Server counts requests and connections;
// [PartnerServer.Hits] counts them per route. Its methods are safe for
// concurrent use. Create it with [NewPartnerServer].
type PartnerServer struct {
	*Server

	mu      sync.Mutex
	credits int
	jobs    int
	lists   map[string]bool
	queue   map[string][]scripted // route → answers before its handler
	hits    map[string]int
}

type scripted struct {
	status     int
	retryAfter string
}

// NewPartnerServer starts a PartnerServer on 127.0.0.1 with
// [DefaultCredits] credits and no scripted faults; t.Cleanup closes it.
func NewPartnerServer(t testing.TB) *PartnerServer {
	t.Helper()
	p := &PartnerServer{
		credits: DefaultCredits,
		lists:   map[string]bool{},
		queue:   map[string][]scripted{},
		hits:    map[string]int{},
	}
	mux, paths := http.NewServeMux(), http.NewServeMux()
	allow := map[string][]string{} // path pattern → its methods, for 405's Allow
	for route, h := range map[string]http.HandlerFunc{
		RouteEnhancements: p.enhance,
		RouteResults:      p.job,
		RouteProgress:     p.job,
		RouteLists:        p.createList,
	} {
		mux.Handle(route, p.route(route, h))
		method, path, _ := strings.Cut(route, " ")
		if allow[path] == nil {
			paths.Handle(path, http.NotFoundHandler())
		}
		allow[path] = append(allow[path], method)
	}
	for _, methods := range allow {
		slices.Sort(methods)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Unmatched: a known path with another method gets 405.
		if _, pattern := paths.Handler(r); pattern != "" {
			w.Header().Set("Allow", strings.Join(allow[pattern], ", ")) // RFC 9110 §15.5.6
			file(w, http.StatusMethodNotAllowed, "405-fastapi-default.json")
			return
		}
		file(w, http.StatusNotFound, "404-fastapi-default.json")
	})
	p.Server = New(t, mux)
	return p
}

// route counts a request of route and answers it from the route's script
// when one is queued, from h otherwise.
func (p *PartnerServer) route(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits[route]++
		var s scripted
		if q := p.queue[route]; len(q) > 0 {
			s, p.queue[route] = q[0], q[1:]
		}
		p.mu.Unlock()
		if s.status == 0 {
			h(w, r)
			return
		}
		drain(r)
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		msg := http.StatusText(s.status)
		if s.status == http.StatusTooManyRequests {
			msg = "Rate limit exceeded"
		}
		detail(w, s.status, msg)
	})
}

// RateLimit makes the next n requests of route get 429 {"detail":"Rate
// limit exceeded"}, with Retry-After: retryAfter unless it is empty. The
// answers queue behind those already scripted for route.
func (p *PartnerServer) RateLimit(route string, n int, retryAfter string) {
	p.script(route, n, scripted{http.StatusTooManyRequests, retryAfter})
}

// Fail makes the next n requests of route get status (500 when zero),
// with the body {"detail": "<status text>"}: a burst of server errors. The
// answers queue behind those already scripted for route.
func (p *PartnerServer) Fail(route string, n, status int) {
	if status == 0 {
		status = http.StatusInternalServerError
	}
	p.script(route, n, scripted{status: status})
}

func (p *PartnerServer) script(route string, n int, s scripted) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.queue[route] = append(p.queue[route], s)
	}
}

// SetCredits sets how many more enhancement batches are accepted before
// the 402: SetCredits(2) makes the third valid submit from now the first
// to get 402. Negative counts as zero.
func (p *PartnerServer) SetCredits(n int) {
	p.mu.Lock()
	p.credits = max(n, 0)
	p.mu.Unlock()
}

// Credits returns how many enhancement batches are left.
func (p *PartnerServer) Credits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.credits
}

// Hits returns how many requests route received, scripted answers
// included. The embedded Server's Hits counts every request.
func (p *PartnerServer) Hits(route string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[route]
}

func (p *PartnerServer) enhance(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Persons json.RawMessage `json:"persons"`
	}
	var persons []json.RawMessage
	if json.NewDecoder(r.Body).Decode(&in) != nil || in.Persons != nil && json.Unmarshal(in.Persons, &persons) != nil {
		detail(w, http.StatusBadRequest, "Malformed JSON body")
		return
	}
	// The 422s say what Pydantic says about this request: the length it
	// has, or each person without a name, by index, with its input.
	var missing []violation
	for i, raw := range persons {
		var person map[string]json.RawMessage
		if json.Unmarshal(raw, &person) != nil {
			detail(w, http.StatusBadRequest, "Malformed JSON body")
			return
		}
		if _, ok := person["name"]; !ok {
			missing = append(missing, violation{Type: "missing", Loc: []any{"body", "persons", i, "name"}, Msg: "Field required", Input: raw})
		}
	}
	if n := len(persons); n > maxPersons {
		validation(w, violation{Type: "too_long", Loc: []any{"body", "persons"},
			Msg:   fmt.Sprintf("List should have at most %d items after validation, not %d", maxPersons, n),
			Input: in.Persons, Ctx: &lengthCtx{"List", maxPersons, n}})
		return
	}
	if missing != nil {
		validation(w, missing...)
		return
	}
	p.mu.Lock()
	ok := p.credits > 0
	if ok {
		p.credits--
		p.jobs++
	}
	left, job := p.credits, p.jobs
	p.mu.Unlock()
	if !ok {
		file(w, http.StatusPaymentRequired, "402-insufficient-credits.json")
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"job_id": "job_" + strconv.Itoa(job),
		"meta":   map[string]int{"imports_remaining": left},
	})
}

func (p *PartnerServer) job(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var n int
	_, err := fmt.Sscanf(id, "job_%d", &n)
	p.mu.Lock()
	known := err == nil && n >= 1 && n <= p.jobs && id == "job_"+strconv.Itoa(n)
	p.mu.Unlock()
	if !known {
		file(w, http.StatusNotFound, "404-fastapi-default.json")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"job_id": id, "status": "done"})
}

func (p *PartnerServer) createList(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		detail(w, http.StatusBadRequest, "Malformed JSON body")
		return
	}
	if in.Name == "" {
		file(w, http.StatusUnprocessableEntity, "422-list-empty-name.json")
		return
	}
	p.mu.Lock()
	taken := p.lists[in.Name]
	p.lists[in.Name] = true
	p.mu.Unlock()
	if taken {
		detail(w, http.StatusBadRequest, fmt.Sprintf("A list named %q already exists", in.Name))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": in.Name})
}

// maxPersons is how many persons an enhancement request may hold.
const maxPersons = 100

// violation is one error of a Pydantic 422 body, its fields in
// Pydantic's order.
type violation struct {
	Type  string          `json:"type"`
	Loc   []any           `json:"loc"`
	Msg   string          `json:"msg"`
	Input json.RawMessage `json:"input"` // the request's, compacted by Marshal
	Ctx   *lengthCtx      `json:"ctx,omitempty"`
}

// lengthCtx is the ctx of a too_long violation.
type lengthCtx struct {
	FieldType    string `json:"field_type"`
	MaxLength    int    `json:"max_length"`
	ActualLength int    `json:"actual_length"`
}

func validation(w http.ResponseWriter, vs ...violation) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string][]violation{"detail": vs})
}

func detail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"detail": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// file answers status with one of the embedded bodies (its name is a
// constant of this package: a missing file is a bug, caught by the tests).
func file(w http.ResponseWriter, status int, name string) {
	b, err := bodies.ReadFile("testdata/" + name)
	if err != nil {
		panic("resilienttest: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
