package resilienttest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resilient-http/resilient/resilienttest"
	"github.com/resilient-http/resilient/transport/apierror"
	"github.com/resilient-http/resilient/transport/errclass"
)

type answer struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, c *http.Client, method, url, body string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

const batch = `{"persons":[{"name":"Ada"}]}`

func TestPartnerCreditsRunOut(t *testing.T) {
	api := resilienttest.NewPartnerServer(t)
	if api.Credits() != resilienttest.DefaultCredits {
		t.Errorf("Credits() = %d, want %d", api.Credits(), resilienttest.DefaultCredits)
	}
	api.SetCredits(2)
	c := api.Client()
	for i, want := range []int{1, 0} {
		a := call(t, c, "POST", api.URL+"/v1/enhancements", batch)
		var out struct {
			JobID string `json:"job_id"`
			Meta  struct {
				ImportsRemaining *int `json:"imports_remaining"`
			}
		}
		if err := json.Unmarshal([]byte(a.body), &out); a.status != 202 || err != nil || out.Meta.ImportsRemaining == nil || *out.Meta.ImportsRemaining != want {
			t.Fatalf("submit %d: %d %s, want 202 with imports_remaining %d", i+1, a.status, a.body, want)
		}
		if r := call(t, c, "GET", api.URL+"/v1/jobs/"+out.JobID+"/results", ""); r.status != 200 {
			t.Errorf("results of %s: %d, want 200", out.JobID, r.status)
		}
	}
	a := call(t, c, "POST", api.URL+"/v1/enhancements", batch)
	if a.status != 402 || strings.TrimSpace(a.body) != `{"detail":"Insufficient credits"}` {
		t.Errorf("third submit: %d %s, want the contract's 402", a.status, a.body)
	}
	if api.Hits(resilienttest.RouteEnhancements) != 3 || api.Hits(resilienttest.RouteResults) != 2 || api.Server.Hits() != 5 {
		t.Errorf("hits: submits %d, results %d, all %d; want 3, 2, 5", api.Hits(resilienttest.RouteEnhancements), api.Hits(resilienttest.RouteResults), api.Server.Hits())
	}
	if r := call(t, c, "GET", api.URL+"/v1/jobs/job_3/progress", ""); r.status != 404 {
		t.Errorf("progress of a job never accepted: %d, want 404", r.status)
	}
}

func TestPartnerScriptedFaults(t *testing.T) {
	api := resilienttest.NewPartnerServer(t)
	api.RateLimit(resilienttest.RouteEnhancements, 1, "7")
	api.Fail(resilienttest.RouteEnhancements, 2, 0)
	api.Fail(resilienttest.RouteResults, 1, http.StatusServiceUnavailable)
	c := api.Client()
	var got []int
	for range 4 {
		a := call(t, c, "POST", api.URL+"/v1/enhancements", batch)
		got = append(got, a.status)
		if a.status == 429 {
			resp := &http.Response{StatusCode: 429, Header: a.header}
			if d, ok := errclass.RetryAfter(resp, time.Now()); !ok || d != 7*time.Second || !strings.Contains(a.body, "Rate limit exceeded") {
				t.Errorf("429: Retry-After %v (%v), body %s; want 7s and the detail", d, ok, a.body)
			}
		}
	}
	if want := []int{429, 500, 500, 202}; !equal(got, want) {
		t.Errorf("submits answered %v, want %v", got, want)
	}
	if api.Credits() != resilienttest.DefaultCredits-1 {
		t.Errorf("credits %d, want %d: scripted answers spend none", api.Credits(), resilienttest.DefaultCredits-1)
	}
	// The results route's script is its own.
	if a := call(t, c, "GET", api.URL+"/v1/jobs/job_1/results", ""); a.status != 503 {
		t.Errorf("results: %d, want the scripted 503", a.status)
	}
	if a := call(t, c, "GET", api.URL+"/v1/jobs/job_1/results", ""); a.status != 200 {
		t.Errorf("results after the script: %d, want 200", a.status)
	}
}

// The bodies are the real ones, and apierror reads them as such.
func TestPartnerValidationAndRouting(t *testing.T) {
	api := resilienttest.NewPartnerServer(t)
	c := api.Client()
	persons := make([]string, 101) // the request the real 422 answered
	for i := range persons {
		persons[i] = fmt.Sprintf(`{"name":"p%d"}`, i)
	}
	many := `{"persons":[` + strings.Join(persons, ",") + `]}`
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		file                     string
		sentinel                 error
	}{
		{"missing name", "POST", "/v1/enhancements", `{"persons":[{"email":"a@example.org"}]}`, 422, "422-missing-name.json", apierror.ErrValidation},
		{"too many persons", "POST", "/v1/enhancements", many, 422, "422-too-many-persons.json", apierror.ErrValidation},
		{"malformed", "POST", "/v1/enhancements", `{`, 400, "", apierror.ErrBadRequest},
		{"empty list name", "POST", "/v1/lists", `{"name":""}`, 422, "422-list-empty-name.json", apierror.ErrValidation},
		{"list", "POST", "/v1/lists", `{"name":"vip"}`, 201, "", nil},
		{"duplicate list", "POST", "/v1/lists", `{"name":"vip"}`, 400, "", apierror.ErrBadRequest},
		{"unknown path", "GET", "/v2/nothing", "", 404, "404-fastapi-default.json", apierror.ErrNotFound},
		{"wrong method", "GET", "/v1/enhancements", "", 405, "405-fastapi-default.json", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, api.URL+tc.path, strings.NewReader(tc.body))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			derr := apierror.Decode(resp)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.status)
			}
			if tc.file != "" {
				want, err := os.ReadFile(filepath.Join("testdata", tc.file))
				if err != nil || string(b) != string(want) {
					t.Errorf("body %s, want %s (%v)", b, want, err)
				}
			}
			if tc.sentinel != nil && !errors.Is(derr, tc.sentinel) {
				t.Errorf("apierror.Decode = %v, want %v", derr, tc.sentinel)
			}
			if allow := resp.Header.Get("Allow"); tc.status == 405 && allow != "POST" {
				t.Errorf("405 Allow = %q, want POST (RFC 9110: a 405 names the methods the path takes)", allow)
			}
			var ae *apierror.Error
			if tc.status == 422 && (!errors.As(derr, &ae) || len(ae.Violations) != 1) {
				t.Errorf("422 decoded as %v, want one violation", derr)
			}
		})
	}
	if n := api.Credits(); n != resilienttest.DefaultCredits {
		t.Errorf("credits %d after invalid submits, want %d", n, resilienttest.DefaultCredits)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A 422 says which persons failed, as Pydantic does: every person without
// a name, by its index, with its input; and the real length of a list
// that is too long.
func TestPartnerValidationNamesTheFailingPersons(t *testing.T) {
	api := resilienttest.NewPartnerServer(t)
	c := api.Client()
	type violation struct {
		Type  string          `json:"type"`
		Loc   []any           `json:"loc"`
		Msg   string          `json:"msg"`
		Input json.RawMessage `json:"input"`
		Ctx   map[string]any  `json:"ctx"`
	}
	persons150 := `[` + strings.Repeat(`{"name":"x"},`, 149) + `{"name":"y"}]`
	for _, tc := range []struct {
		name, body string
		want       []violation
	}{
		{"third and fourth without a name", `{"persons":[{"name":"a"},{"name":"b"},{"email": "c@example.org"},
{"id": 4}]}`, []violation{
			{Type: "missing", Loc: []any{"body", "persons", 2.0, "name"}, Msg: "Field required", Input: json.RawMessage(`{"email":"c@example.org"}`)},
			{Type: "missing", Loc: []any{"body", "persons", 3.0, "name"}, Msg: "Field required", Input: json.RawMessage(`{"id":4}`)},
		}},
		{"150 persons", `{"persons":` + persons150 + `}`, []violation{
			{Type: "too_long", Loc: []any{"body", "persons"}, Msg: "List should have at most 100 items after validation, not 150",
				Input: json.RawMessage(persons150), Ctx: map[string]any{"field_type": "List", "max_length": 100.0, "actual_length": 150.0}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, c, "POST", api.URL+"/v1/enhancements", tc.body)
			var out struct{ Detail []violation }
			if err := json.Unmarshal([]byte(a.body), &out); a.status != 422 || err != nil {
				t.Fatalf("%d %s, want 422 (%v)", a.status, a.body, err)
			}
			if len(out.Detail) != len(tc.want) {
				t.Fatalf("detail = %s, want %d violations", a.body, len(tc.want))
			}
			for i, w := range tc.want {
				g := out.Detail[i]
				if g.Type != w.Type || g.Msg != w.Msg || fmt.Sprint(g.Loc) != fmt.Sprint(w.Loc) ||
					(w.Input != nil && string(g.Input) != string(w.Input)) || (w.Ctx != nil && fmt.Sprint(g.Ctx) != fmt.Sprint(w.Ctx)) {
					t.Errorf("violation %d = %s %v %q %v (input %.60s), want %s %v %q %v (input %.60s)",
						i, g.Type, g.Loc, g.Msg, g.Ctx, g.Input, w.Type, w.Loc, w.Msg, w.Ctx, w.Input)
				}
			}
		})
	}
}
