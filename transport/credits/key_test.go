package credits

import (
	"net/http"
	"net/url"
	"testing"
)

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://h", "/"},
		{"https://h/", "/"},
		{"https://h/v1/jobs/x", "/v1/jobs/x"},
		{"https://h/v1//jobs/./x", "/v1/jobs/x"},
		{"https://h/v1/jobs/x/", "/v1/jobs/x"},
		{"https://h/v1/%6Aobs/x", "/v1/jobs/x"},
		{"https://h/v1/%6a%6F%62s/x", "/v1/jobs/x"},
		{"https://h/v1/jobs/%2e%2E/x", "/v1/x"},
		{"https://h/v1/a%2fb", "/v1/a%2Fb"},
		{"https://h/v1/a%2Fb/../c", "/v1/c"},
		{"https://h/v1/caf%c3%a9", "/v1/caf%C3%A9"},
		{"https://h/v1/café", "/v1/caf%C3%A9"},
		{"https://h/v1/a%20b", "/v1/a%20b"},
		{"https://h/v1/a%7Eb", "/v1/a~b"},
		{"https://h/v1/jobs/x?q=1#frag", "/v1/jobs/x"},
	} {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := cleanPath(u); got != tc.want {
			t.Errorf("cleanPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Malformed escapes (possible in a hand-built RawPath) pass unchanged.
	for _, raw := range []string{"/a%", "/a%4", "/a%zz"} {
		got := normalizeEscapes(raw)
		if got != raw {
			t.Errorf("normalizeEscapes(%q) = %q, want it unchanged", raw, got)
		}
	}
}

func TestDefaultKey(t *testing.T) {
	tr := New(nil, Policy{})
	for _, tc := range []struct{ method, url, want string }{
		{"POST", "https://API.Example.com:443/v1/jobs/", "POST https://api.example.com/v1/jobs"},
		{"", "http://example.com:80/x", "GET http://example.com/x"},
		{"GET", "http://example.com:8080/x", "GET http://example.com:8080/x"},
	} {
		req, err := http.NewRequest(tc.method, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Method = tc.method
		if got := tr.keys(req).route; got != tc.want {
			t.Errorf("key(%s %s) = %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/v1//jobs/./x", "/v1/%6Aobs/x", "/a%2Fb", "/a%", "", "*", "/%zz/..", "/caf%C3%A9/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u := &url.URL{Scheme: "https", Host: "h"}
		if err := u.UnmarshalBinary([]byte("https://h" + raw)); err != nil {
			return
		}
		once := cleanPath(u)
		again, err := url.Parse("https://h" + once)
		if err != nil {
			return
		}
		// Cleaning is idempotent: a cleaned path is its own spelling.
		if twice := cleanPath(again); twice != once {
			t.Errorf("cleanPath(%q) = %q, but cleaning that gives %q", raw, once, twice)
		}
	})
}
