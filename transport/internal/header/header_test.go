package header

import (
	"net/http"
	"testing"
)

// Lookup finds a name in its canonical spelling, then in any case, the
// first of several names before later ones, and never an empty list of
// values; it allocates nothing.
func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		h      http.Header
		want   string
		wantOK bool
	}{
		{"canonical", http.Header{"Idempotency-Key": {"a"}}, "a", true},
		{"other case", http.Header{"idempotency-KEY": {"b"}}, "b", true},
		{"second name", http.Header{"X-Idempotency-Key": {"c"}}, "c", true},
		{"second name, other case", http.Header{"x-idempotency-key": {"d"}}, "d", true},
		{"first name wins", http.Header{"X-Idempotency-Key": {"x"}, "Idempotency-Key": {"e"}}, "e", true},
		{"empty value counts", http.Header{"Idempotency-Key": {""}}, "", true},
		{"no values", http.Header{"Idempotency-Key": {}, "idempotency-key": nil}, "", false},
		{"absent", http.Header{"Other": {"f"}}, "", false},
		{"nil header", nil, "", false},
	} {
		got, ok := Lookup(tc.h, "Idempotency-Key", "X-Idempotency-Key")
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: Lookup = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
	h := http.Header{"Accept": {"*/*"}, "x-amz-target": {"DynamoDB_20120810.GetItem"}}
	if n := testing.AllocsPerRun(100, func() { Lookup(h, "X-Amz-Target") }); n != 0 {
		t.Errorf("Lookup allocates %v times, want 0", n)
	}
}
