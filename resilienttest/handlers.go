package resilienttest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Reply returns a handler that answers status with body, after setting
// the given headers (name, value pairs: Reply(429, "", "Retry-After", "0")).
// It panics on an odd number of header strings.
func Reply(status int, body string, header ...string) http.Handler {
	if len(header)%2 != 0 {
		panic("resilienttest: Reply: header wants name, value pairs")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		for i := 0; i < len(header); i += 2 {
			w.Header().Add(header[i], header[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

// Status returns a handler that answers status with a JSON body
// {"detail": "<status text>"}, the shape of the partner API's errors, after
// setting the given headers (name, value pairs, as for [Reply]).
func Status(status int, header ...string) http.Handler {
	body, _ := json.Marshal(map[string]string{"detail": http.StatusText(status)})
	return Reply(status, string(body), append([]string{"Content-Type", "application/json"}, header...)...)
}

// Stall returns a handler that sends status with a Content-Length of
// contentLength (none, so chunked, when negative), flushes sent bytes of
// the body (sent < contentLength), then sends nothing more until the
// request's context ends: the client goes away or the test ends. The
// response is then cut short, so the server closes its connection.
func Stall(status, contentLength, sent int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		if contentLength >= 0 {
			w.Header().Set("Content-Length", strconv.Itoa(contentLength))
		}
		w.WriteHeader(status)
		io.WriteString(w, strings.Repeat("x", sent))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
}

// Drip returns a handler that sends status with a body of total bytes
// (Content-Length set), one byte every interval, flushing each, until the
// body is complete or the request's context ends.
func Drip(status, total int, every time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		w.Header().Set("Content-Length", strconv.Itoa(total))
		w.WriteHeader(status)
		rc := http.NewResponseController(w)
		if rc.Flush() != nil {
			return
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for range total {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
			if _, err := io.WriteString(w, "x"); err != nil || rc.Flush() != nil {
				return
			}
		}
	})
}

// StallHeaders returns a handler that reads the request and never
// answers, until the request's context ends: a server that hangs before
// its response headers.
func StallHeaders() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		<-r.Context().Done()
	})
}

// Reset returns a handler that reads the request, then resets the
// connection (RST, no response): the server may have processed the
// request, the client cannot know. It is
// ResetAfter("", 0).
func Reset() http.Handler { return ResetAfter("", 0) }

// ResetAfter returns a handler that reads the request, writes raw to the
// connection as it is (a partial status line, headers and part of a body:
// whatever the test needs), waits pause (so that the client has read raw
// before the RST discards it; at most until the request's context ends),
// then resets the connection (RST). Over HTTP/2, which has no hijacking,
// it resets the stream instead (RST_STREAM INTERNAL_ERROR) and ignores raw.
func ResetAfter(raw string, pause time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		c := hijack(w, raw)
		if pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-r.Context().Done():
			case <-t.C:
			}
			t.Stop()
		}
		if tc, ok := tcpConn(c); ok {
			tc.SetLinger(0) // close sends RST, not FIN
		}
		c.Close()
	})
}

// CloseAfter returns a handler that reads the request, writes raw to the
// connection as it is, and closes the connection (FIN). With raw a complete
// response that claims keep-alive, the client's next request on that
// connection meets a stale connection; with raw empty, the server closed the
// connection after reading the request (net/http reports EOF). Over HTTP/2
// it resets the stream instead and ignores raw.
func CloseAfter(raw string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		hijack(w, raw).Close()
	})
}

// Script returns a handler that gives request n (counting from 1, in the
// order requests arrive) to steps[n-1]; the last step answers every request
// after the last. It panics without steps.
func Script(steps ...http.Handler) http.Handler {
	if len(steps) == 0 {
		panic("resilienttest: Script wants at least one step")
	}
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := min(int(n.Add(1))-1, len(steps)-1)
		steps[i].ServeHTTP(w, r)
	})
}

// drain reads the request body, so that a fault comes after the whole
// request was received.
func drain(r *http.Request) {
	io.Copy(io.Discard, r.Body)
}

// hijack takes over the connection of w and writes raw to it. Over
// HTTP/2 (no hijacking) it aborts the handler, which resets the stream.
func hijack(w http.ResponseWriter, raw string) net.Conn {
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if raw != "" {
		rw.WriteString(raw)
		rw.Flush()
	}
	return c
}

// tcpConn finds the TCP connection under c (which TLS wraps).
func tcpConn(c net.Conn) (*net.TCPConn, bool) {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	tc, ok := c.(*net.TCPConn)
	return tc, ok
}
