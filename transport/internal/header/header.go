// Package header reads request headers by name in any case. A header
// map set directly (h["x-amz-target"] = ...) may hold a name in another
// case than net/http's canonical one, and net/http sends it as it is: the
// server sees the header, so the layers must too.
package header

import (
	"net/http"
	"strings"
)

// Lookup returns the first value h holds under the first of names found,
// and whether one was. Names are looked up in their canonical spelling
// first (give them so), then in any case. It allocates nothing.
func Lookup(h http.Header, names ...string) (string, bool) {
	for _, n := range names {
		if v := h[n]; len(v) > 0 {
			return v[0], true
		}
	}
	for k, v := range h {
		if len(v) == 0 {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(k, n) {
				return v[0], true
			}
		}
	}
	return "", false
}
