package retry

import (
	"errors"
	"net/http"
	"testing"

	"github.com/resilient-http/resilient/transport/errclass"
)

type nilNil struct{}

func (nilNil) RoundTrip(*http.Request) (*http.Response, error) { return nil, nil }

// A RoundTripper below returning (nil, nil) breaks its contract; retry
// answers with an error, never with (nil, nil) of its own.
func TestNilResponseNilErrorBelow(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	resp, err := New(nilNil{}, Policy{}).RoundTrip(req)
	if resp != nil || !errors.Is(err, errclass.ErrNilResponse) {
		t.Errorf("RoundTrip() = %v, %v; want nil and an error matching ErrNilResponse", resp, err)
	}
}
