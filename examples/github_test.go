package examples_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-github/v89/github"

	"github.com/resilient-http/resilient/transport"
)

// githubRespond answers like the GitHub REST API: status with body for
// the first failures requests, then the issue created.
func githubRespond(failures, status int, body string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		if n <= failures {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"number":7,"title":"flaky test"}`)
	}
}

// createIssue opens one issue through a go-github client over httpClient.
func createIssue(tb testing.TB, httpClient *http.Client, baseURL string) (*github.Issue, error) {
	tb.Helper()
	base := baseURL + "/"
	gh, err := github.NewClient(github.WithHTTPClient(httpClient), github.WithURLs(&base, nil))
	if err != nil {
		tb.Fatal(err)
	}
	issue, _, err := gh.Issues.Create(context.Background(), "octo", "repo", &github.IssueRequest{
		Title: github.Ptr("flaky test"),
		Body:  github.Ptr("fails one run in ten <sometimes>"),
	})
	return issue, err
}

// Example_github shows go-github under the stack. go-github never retries
// by itself (it reports rate limits as *github.RateLimitError and
// *github.AbuseRateLimitError and leaves the wait to you), so there is
// nothing to turn off: wrap its client and the stack's retries are the only
// ones.
//
//	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{})
//	if err != nil { ... }
//	gh, err := github.NewClient(github.WithHTTPClient(httpClient), github.WithAuthToken(token))
//
// A GitHub Enterprise server's paths start with /api/v3: write endpoint
// patterns with that prefix, or they never match.
func Example_github() {
	api := startAPI(githubRespond(2, http.StatusBadGateway, `{"message":"Server Error"}`))
	defer api.Close()

	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{})
	if err != nil {
		panic(err)
	}
	defer httpClient.CloseIdleConnections()
	base := api.URL + "/"
	gh, err := github.NewClient(github.WithHTTPClient(httpClient), github.WithURLs(&base, nil))
	if err != nil {
		panic(err)
	}
	issue, _, err := gh.Issues.Create(context.Background(), "octo", "repo", &github.IssueRequest{Title: github.Ptr("flaky test")})
	if err != nil {
		panic(err)
	}
	fmt.Printf("issue #%d after %d requests\n", issue.GetNumber(), api.Count())
	// Output: issue #7 after 3 requests
}

// TestGitHubRetries counts hits: with no retries of go-github's own, a
// 503 or a secondary rate limit that never clears costs our 3 attempts,
// and go-github still builds its typed error from the last response.
func TestGitHubRetries(t *testing.T) {
	t.Run("503", func(t *testing.T) {
		api := newAPI(t, githubRespond(100, http.StatusServiceUnavailable, `{"message":"Service Unavailable"}`))
		var err error
		timed(t, api, "go-github × stack default, 503", func() { _, err = createIssue(t, wrap(t, fast), api.URL) })
		if got := api.Count(); got != 3 {
			t.Errorf("hits = %d, want 3", got)
		}
		var ghErr *github.ErrorResponse
		if !errors.As(err, &ghErr) || ghErr.Response.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("error = %T %v, want *github.ErrorResponse 503", err, err)
		}
	})
	t.Run("429 secondary rate limit", func(t *testing.T) {
		api := newAPI(t, githubRespond(100, http.StatusTooManyRequests,
			`{"message":"You have exceeded a secondary rate limit","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`))
		var err error
		timed(t, api, "go-github × stack default, 429", func() { _, err = createIssue(t, wrap(t, fast), api.URL) })
		if got := api.Count(); got != 3 {
			t.Errorf("hits = %d, want 3", got)
		}
		var abuse *github.AbuseRateLimitError
		if !errors.As(err, &abuse) {
			t.Errorf("error = %T %v, want *github.AbuseRateLimitError", err, err)
		}
	})
}

// TestGitHubClientErrorsOnce checks that 4xx go out once and go-github
// still builds its *github.ErrorResponse, field errors included.
func TestGitHubClientErrorsOnce(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		errors int
	}{
		{http.StatusNotFound, `{"message":"Not Found"}`, 0},
		{http.StatusUnprocessableEntity, `{"message":"Validation Failed","errors":[{"resource":"Issue","field":"title","code":"missing_field"}]}`, 1},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			api := newAPI(t, githubRespond(100, tc.status, tc.body))
			_, err := createIssue(t, wrap(t, fast), api.URL)
			if got := api.Count(); got != 1 {
				t.Errorf("hits = %d, want 1", got)
			}
			var ghErr *github.ErrorResponse
			if !errors.As(err, &ghErr) {
				t.Fatalf("error = %T %v, want *github.ErrorResponse", err, err)
			}
			if ghErr.Response.StatusCode != tc.status || len(ghErr.Errors) != tc.errors {
				t.Errorf("ErrorResponse = %d with %d field errors, want %d with %d", ghErr.Response.StatusCode, len(ghErr.Errors), tc.status, tc.errors)
			}
		})
	}
}

// TestGitHubBodiesReplayed checks that our retries resend go-github's JSON
// body byte-identical.
func TestGitHubBodiesReplayed(t *testing.T) {
	api := newAPI(t, githubRespond(2, http.StatusInternalServerError, `{"message":"Server Error"}`))
	issue, err := createIssue(t, wrap(t, fast), api.URL)
	if err != nil {
		t.Fatal(err)
	}
	if issue.GetNumber() != 7 {
		t.Errorf("issue = %d, want 7", issue.GetNumber())
	}
	if got := api.Count(); got != 3 {
		t.Errorf("hits = %d, want 3", got)
	}
	api.sameBodies(t)
}
