package retry

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/resilient-http/resilient/transport/errclass"
)

// counted is a body without GetBody that counts the bytes read from it.
type counted struct {
	r      io.Reader
	read   atomic.Int64
	closes atomic.Int32
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *counted) Close() error { c.closes.Add(1); return nil }

func TestBufferBodyReplaysSmallBodies(t *testing.T) {
	type seen struct {
		body          string
		contentLength int64
	}
	var mu sync.Mutex
	var got []seen
	statuses := []int{503, 500, 201}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{string(b), r.ContentLength})
		code := statuses[min(len(got), len(statuses))-1]
		mu.Unlock()
		w.WriteHeader(code)
	}))
	defer srv.Close()

	p := fast
	p.BufferBody = 64
	body := &counted{r: strings.NewReader(`{"op":"put"}`)}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, body)
	if req.GetBody != nil || req.ContentLength != 0 {
		t.Fatal("test body unexpectedly replayable or of known length")
	}
	resp := mustRoundTrip(t, New(srv.Client().Transport, p), req)
	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != 201 || len(got) != 3 {
		t.Fatalf("RoundTrip() = %d after %d attempts, want 201 after 3", resp.StatusCode, len(got))
	}
	for i, s := range got {
		if s != (seen{`{"op":"put"}`, 12}) {
			t.Errorf("attempt %d sent %q with Content-Length %d, want the whole body with 12", i+1, s.body, s.contentLength)
		}
	}
	if req.GetBody != nil || req.ContentLength != 0 || req.Body != io.ReadCloser(body) {
		t.Error("the caller's request was changed")
	}
	if body.closes.Load() != 1 {
		t.Errorf("caller's body closed %d times, want 1", body.closes.Load())
	}
}

func TestBufferBodyEmpty(t *testing.T) {
	srv := newScript(t, step{status: 503}, step{status: 200})
	p := fast
	p.BufferBody = 64
	req, _ := http.NewRequest(http.MethodPut, srv.URL, &counted{r: strings.NewReader("")})
	if resp := mustRoundTrip(t, New(srv.Client().Transport, p), req); resp.StatusCode != 200 || srv.count() != 2 {
		t.Errorf("RoundTrip() = %d after %d attempts, want 200 after 2", resp.StatusCode, srv.count())
	}
}

// A body over the limit goes out once, intact, having been read ahead by
// no more than limit+1 bytes; one known to be over it is not read ahead.
func TestBufferBodyOverLimit(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	for _, tc := range []struct {
		name          string
		contentLength int64
		wantReadAhead int64
	}{
		{"unknown length", 0, 1<<10 + 1},
		{"known length", int64(len(big)), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &counted{r: bytes.NewReader(big)}
			var readAhead atomic.Int64
			var sent []byte
			stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
				readAhead.Store(body.read.Load())
				sent, _ = io.ReadAll(r.Body)
				r.Body.Close()
				return &http.Response{StatusCode: 503, Header: http.Header{}, Body: http.NoBody}, nil
			})
			rec := &recorder{}
			p := fast
			p.BufferBody, p.Observer = 1<<10, rec
			req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/upload", body)
			req.ContentLength = tc.contentLength
			resp := mustRoundTrip(t, New(stub, p), req)
			if resp.StatusCode != 503 || !bytes.Equal(sent, big) {
				t.Errorf("RoundTrip() = %d having sent %d bytes (intact: %v), want 503 having sent %d intact", resp.StatusCode, len(sent), bytes.Equal(sent, big), len(big))
			}
			if readAhead.Load() != tc.wantReadAhead {
				t.Errorf("%d bytes read before the attempt, want %d", readAhead.Load(), tc.wantReadAhead)
			}
			if len(rec.gaveUp) != 1 || rec.gaveUp[0] != errclass.StopNotReplayable {
				t.Errorf("Policy.Observer heard give-ups %v, want [not_replayable]", rec.gaveUp)
			}
			if body.closes.Load() < 1 {
				t.Error("caller's body not closed")
			}
		})
	}
}

// failsOnce gives its data, then fails once, then reports EOF: read
// again after its failure, it would pass for a shorter body.
type failsOnce struct {
	data   io.Reader
	err    error
	failed bool
}

func (f *failsOnce) Read(p []byte) (int, error) {
	n, err := f.data.Read(p)
	if err == io.EOF && !f.failed {
		f.failed = true
		return n, f.err
	}
	return n, err
}

// A body whose Read fails goes out with what it gave, then the failure:
// never as a shorter body.
func TestBufferBodyReadError(t *testing.T) {
	broken := errors.New("disk gone")
	body := &counted{r: &failsOnce{data: strings.NewReader("part"), err: broken}}
	var sent []byte
	var readErr error
	stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		sent, readErr = io.ReadAll(r.Body)
		r.Body.Close()
		return nil, readErr
	})
	p := fast
	p.BufferBody = 1 << 10
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", body)
	_, err := New(stub, p).RoundTrip(req)
	if string(sent) != "part" || !errors.Is(readErr, broken) || !errors.Is(err, broken) {
		t.Errorf("sent %q, read error %v, RoundTrip() error %v; want \"part\" then %v", sent, readErr, err, broken)
	}
	if body.closes.Load() != 1 {
		t.Errorf("caller's body closed %d times, want 1", body.closes.Load())
	}
}

// A request that will get one attempt anyway is not read ahead.
func TestBufferBodyOnlyWhenRetriesPossible(t *testing.T) {
	for _, p := range []Policy{{BufferBody: 64, MaxAttempts: 1}, {BufferBody: 64, SDKRetriesMode: SDKAlways}} {
		body := &counted{r: strings.NewReader("data")}
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", body)
		var same bool
		stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			same = r == req
			r.Body.Close()
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
		})
		mustRoundTrip(t, New(stub, p), req)
		if !same {
			t.Errorf("policy %+v: the first attempt was a copy, want the caller's request as it is", p)
		}
	}
}
