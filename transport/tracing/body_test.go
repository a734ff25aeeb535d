package tracing

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A body whose Read fails ends its span at once, with the error as the
// span's status and a body_read_error event; one closed or read to its end
// leaves the status alone.
func TestTrackedBodyRecordsReadError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   io.Reader
		close  bool
		status codes.Code
	}{
		{"failed", io.MultiReader(strings.NewReader("par"), errReader{errors.New("reset by peer")}), false, codes.Error},
		{"eof", strings.NewReader("whole"), false, codes.Unset},
		{"closed", strings.NewReader("whole"), true, codes.Unset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			defer tp.Shutdown(context.Background())
			_, span := tp.Tracer("t").Start(context.Background(), "s")
			tb := trackBody(&http.Response{StatusCode: 200, Body: io.NopCloser(tc.body)}, 0, span, attemptEnd{})
			if tc.close {
				tb.Read(make([]byte, 2))
				tb.Close()
			} else {
				io.ReadAll(tb)
			}
			ended := rec.Ended()
			if len(ended) != 1 {
				t.Fatalf("%d spans ended before Close, want 1", len(ended))
			}
			if got := ended[0].Status().Code; got != tc.status {
				t.Errorf("status = %v, want %v", got, tc.status)
			}
			events := ended[0].Events()
			if tc.status == codes.Error && (len(events) != 1 || events[0].Name != "body_read_error") {
				t.Errorf("events = %v, want one body_read_error", events)
			}
			tb.Close()
			if len(rec.Ended()) != 1 {
				t.Error("Close after the end ended the span again")
			}
		})
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
