// Package origin names the server a request goes to, one way however the
// URL spells it: the layers that keep state per server (breakers, throttle
// windows, 402 latches, concurrency limits) key it by this.
package origin

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// Of returns u's scheme and host in lower case, without the scheme's
// default port: "HTTPS://API.example.com:443" is "https",
// "api.example.com". It allocates only for a host that is not in lower
// case already; url.Parse lower-cases schemes.
func Of(u *url.URL) (scheme, host string) {
	scheme, host = u.Scheme, u.Host
	if scheme != "https" && scheme != "http" {
		scheme = strings.ToLower(scheme)
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c-'A' < 26 || c >= utf8.RuneSelf {
			host = strings.ToLower(host)
			break
		}
	}
	switch scheme {
	case "https":
		host = strings.TrimSuffix(host, ":443")
	case "http":
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme, host
}
