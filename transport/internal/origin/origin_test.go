package origin

import (
	"net/url"
	"testing"
)

// Of spells one server one way: scheme and host in lower case (non-ASCII
// too), the scheme's default port dropped and any other kept; nothing
// allocated for a URL already in that form.
func TestOf(t *testing.T) {
	for _, tc := range []struct{ scheme, host, wantScheme, wantHost string }{
		{"https", "api.example.com", "https", "api.example.com"},
		{"HTTPS", "API.Example.COM:443", "https", "api.example.com"},
		{"http", "api.example.com:80", "http", "api.example.com"},
		{"http", "api.example.com:443", "http", "api.example.com:443"},
		{"https", "127.0.0.1:8443", "https", "127.0.0.1:8443"},
		{"Ws", "ÉCOLE.example:80", "ws", "école.example:80"},
		{"https", "", "https", ""},
	} {
		s, h := Of(&url.URL{Scheme: tc.scheme, Host: tc.host})
		if s != tc.wantScheme || h != tc.wantHost {
			t.Errorf("Of(%s://%s) = %q, %q; want %q, %q", tc.scheme, tc.host, s, h, tc.wantScheme, tc.wantHost)
		}
	}
	u := &url.URL{Scheme: "https", Host: "api.example.com:443"}
	if n := testing.AllocsPerRun(100, func() { Of(u) }); n != 0 {
		t.Errorf("Of allocates %v times for a lower-case URL, want 0", n)
	}
}
