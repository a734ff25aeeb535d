package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/credits"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/limit"
	"github.com/resilient-http/resilient/transport/pacing"
	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestParsePartnerPolicyFile(t *testing.T) {
	cfg, err := LoadConfig("testdata/partner-api.json")
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Default
	if d.Retry.MaxAttempts != 3 || d.Retry.BaseDelay != 100*time.Millisecond || d.AttemptTimeout != 10*time.Second ||
		d.Timeout != time.Minute || d.Breaker.ConsecutiveFailures != 10 || d.Breaker.OpenTimeout != 30*time.Second {
		t.Errorf("default = %+v", d)
	}
	// Resolved: what the file leaves out comes back explicit.
	if d.Retry.MaxRetryAfter != 30*time.Second || d.Retry.MaxElapsed != 30*time.Second || d.BodyIdleTimeout != DefaultBodyIdleTimeout {
		t.Errorf("default bounds = %v, %v, %v; want 30s, 30s, 1m", d.Retry.MaxRetryAfter, d.Retry.MaxElapsed, d.BodyIdleTimeout)
	}
	e := cfg.Endpoints["POST /v1/enhancements"]
	// Overridden fields, and inherited ones.
	if e.Retry.MaxAttempts != 4 || e.Retry.MaxRetryAfter != time.Minute || e.AttemptTimeout != 30*time.Second ||
		e.Retry.BaseDelay != 100*time.Millisecond ||
		e.Retry.Budget != (retry.BudgetPolicy{Ratio: 0.1, MinPerSecond: 1, Window: 30 * time.Second}) || e.Retry.SharedBudget != nil {
		t.Errorf("POST /v1/enhancements = %+v", e)
	}
	// Issue 12 item 7: a Retry-After of up to 60s can be waited out.
	if e.Retry.MaxElapsed < e.Retry.MaxRetryAfter || e.Timeout < e.Retry.MaxElapsed {
		t.Errorf("POST /v1/enhancements bounds max_retry_after %v, max_elapsed %v, timeout %v are out of order",
			e.Retry.MaxRetryAfter, e.Retry.MaxElapsed, e.Timeout)
	}
	if !reflect.ValueOf(e.Breaker).IsZero() {
		t.Errorf("an endpoint without \"breaker\" must share the default's breakers, got %+v", e.Breaker)
	}
	if l := cfg.Endpoints["POST /v1/lists"]; !l.Retry.RequireIdempotencyKey || l.Retry.MaxAttempts != 3 || l.Timeout != time.Minute {
		t.Errorf("POST /v1/lists = %+v", l)
	}
	if x := cfg.Endpoints["/v1/exports/"]; !x.NoRetry || x.Breaker.ConsecutiveFailures != 3 || x.Breaker.OpenTimeout != 30*time.Second || x.AttemptTimeout != NoTimeout {
		t.Errorf("/v1/exports/ = %+v (its breaker starts from the default's settings)", x)
	}
	if got := cfg.Endpoints["DELETE /v1/lists/{id}"].RetryStatuses; len(got) != 1 || got[0] != 409 {
		t.Errorf("retry_statuses = %v", got)
	}
	if _, err := NewStack(nil, cfg); err != nil {
		t.Errorf("NewStack(partner policies) error = %v", err)
	}
}

// configErrors are the shapes of bad policy files, also seeds of
// FuzzParseConfig.
var configErrors = []struct {
	name, json, field, msg string
}{
	{"not JSON", `{`, "", "want a JSON object"},
	{"not an object", `[]`, "", "want a JSON object, got a list"},
	{"top-level unknown", `{"defaults": {}}`, "defaults", "unknown field"},
	{"unknown policy field", `{"default": {"retries": {}}}`, "default.retries", "unknown field"},
	{"unknown retry field", `{"default": {"retry": {"max_atempts": 3}}}`, "default.retry.max_atempts", "known: base_delay"},
	{"bad duration", `{"default": {"retry": {"base_delay": "fast"}}}`, "default.retry.base_delay", `invalid duration "fast"`},
	{"number for duration", `{"default": {"attempt_timeout": 5}}`, "default.attempt_timeout", "want a duration string"},
	{"negative duration", `{"default": {"retry": {"max_delay": "-1s"}}}`, "default.retry.max_delay", "negative duration"},
	{"negative timeout", `{"default": {"timeout": "-1s"}}`, "default.timeout", `"none" turns the timeout off`},
	{"none for a delay", `{"default": {"retry": {"base_delay": "none"}}}`, "default.retry.base_delay", "not one"},
	{"none for max_elapsed", `{"endpoints": {"GET /x": {"retry": {"max_elapsed": "none"}}}}`, `endpoints["GET /x"].retry.max_elapsed`, `"none" turns a timeout off`},
	{"none for a breaker", `{"default": {"breaker": {"open_timeout": "none"}}}`, "default.breaker.open_timeout", "not one"},
	{"None is not none", `{"default": {"timeout": "None"}}`, "default.timeout", "invalid duration"},
	{"attempts out of range", `{"default": {"retry": {"max_attempts": 0}}}`, "default.retry.max_attempts", "out of range"},
	{"ratio out of range", `{"default": {"breaker": {"failure_ratio": 1.5}}}`, "default.breaker.failure_ratio", "out of range"},
	{"hedge quantile over 1", `{"default": {"retry": {"hedge": {"quantile": 1.5}}}}`, "default.retry.hedge.quantile", "1.5 is out of range [0, 1]"},
	{"hedge max zero", `{"default": {"retry": {"hedge": {"delay": "50ms", "max": 0}}}}`, "default.retry.hedge.max", "0 is out of range [1, 10]"},
	{"hedge unknown field", `{"default": {"retry": {"hedge": {"after": "50ms"}}}}`, "default.retry.hedge.after", "known: delay, max, quantile"},

	// Issue 13 item 6: one numeric decoder, every message and range kept.
	{"attempts not an integer", `{"default": {"retry": {"max_attempts": 1.5}}}`, "default.retry.max_attempts", "want an integer, got 1.5"},
	{"attempts over range", `{"default": {"retry": {"max_attempts": 101}}}`, "default.retry.max_attempts", "101 is out of range [1, 100]"},
	{"count negative", `{"default": {"breaker": {"min_requests": -1}}}`, "default.breaker.min_requests", "-1 is out of range [1, 1048576]"},
	{"count past uint32", `{"default": {"breaker": {"consecutive_failures": 4294967297}}}`, "default.breaker.consecutive_failures", "4294967297 is out of range [1, 1048576]"},
	{"count as string", `{"default": {"breaker": {"half_open_probes": "2"}}}`, "default.breaker.half_open_probes", `want an integer, got "2"`},
	{"keys over range", `{"default": {"breaker": {"max_keys": 1048577}}}`, "default.breaker.max_keys", "1048577 is out of range [1, 1048576]"},
	{"ratio as string", `{"default": {"retry": {"budget": {"ratio": "x"}}}}`, "default.retry.budget.ratio", `want a number, got "x"`},
	{"budget ratio over range", `{"default": {"retry": {"budget": {"ratio": 11}}}}`, "default.retry.budget.ratio", "11 is out of range [0, 10]"},
	{"floor over range", `{"default": {"retry": {"budget": {"min_per_second": 2e6}}}}`, "default.retry.budget.min_per_second", "2e+06 is out of range [0, 1e+06]"},
	{"failure ratio negative", `{"default": {"breaker": {"failure_ratio": -0.5}}}`, "default.breaker.failure_ratio", "-0.5 is out of range [0, 1]"},
	{"bad status", `{"default": {"retry_statuses": [42]}}`, "default.retry_statuses", "not an HTTP status code"},
	{"bool as string", `{"default": {"no_retry": "yes"}}`, "default.no_retry", "want true or false"},
	{"null", `{"default": {"no_retry": null}}`, "default.no_retry", "got null"},
	{"null ratio", `{"default": {"breaker": {"failure_ratio": null}}}`, "default.breaker.failure_ratio", "got null"},
	{"null endpoints", `{"endpoints": null}`, "endpoints", "got null"},
	{"budget window", `{"default": {"retry": {"budget": {"window": "0s"}}}}`, "default.retry.budget.window", "must be positive"},
	{"unknown endpoint field", `{"endpoints": {"GET /x": {"retry": {"max_attempts": 2, "jitter": 1}}}}`, `endpoints["GET /x"].retry.jitter`, "unknown field"},
	{"bad pattern", `{"endpoints": {"GET /v1/{id": {}}}`, `endpoints["GET /v1/{id"]`, "endpoint pattern"},
	{"conflicting patterns", `{"endpoints": {"GET /a/{x}": {}, "GET /a/{y}": {}}}`, `endpoints["GET /a/{y}"]`, "conflicts"},
	{"policy not an object", `{"default": []}`, "default", "want a JSON object"},
	{"endpoint not an object", `{"endpoints": {"GET /x": 3}}`, `endpoints["GET /x"]`, "want a JSON object, got a number"},

	// Issue 14 items 2 and 3: sdk_retries and buffer_body.
	{"sdk_retries unknown", `{"default": {"retry": {"sdk_retries": "openai"}}}`, "default.retry.sdk_retries", `want "none", "stainless" or "always", got "openai"`},
	{"sdk_retries empty", `{"default": {"retry": {"sdk_retries": ""}}}`, "default.retry.sdk_retries", `got ""`},
	{"sdk_retries bool", `{"endpoints": {"GET /x": {"retry": {"sdk_retries": true}}}}`, `endpoints["GET /x"].retry.sdk_retries`, "got true"},
	{"buffer_body negative", `{"default": {"retry": {"buffer_body": -1}}}`, "default.retry.buffer_body", "-1 bytes is out of range [0, 1073741824]"},
	{"buffer_body over range", `{"default": {"retry": {"buffer_body": "2GiB"}}}`, "default.retry.buffer_body", `"2GiB" is out of range [0, 1073741824 bytes]`},
	{"buffer_body overflow", `{"default": {"retry": {"buffer_body": "99999999999999999999KiB"}}}`, "default.retry.buffer_body", "out of range"},
	{"buffer_body number over range", `{"default": {"retry": {"buffer_body": 1073741825}}}`, "default.retry.buffer_body", "1073741825 bytes is out of range"},
	{"buffer_body decimal unit", `{"default": {"retry": {"buffer_body": "64KB"}}}`, "default.retry.buffer_body", `unknown unit "KB" in "64KB" (want B, KiB, MiB or GiB)`},
	{"buffer_body space", `{"default": {"retry": {"buffer_body": "64 KiB"}}}`, "default.retry.buffer_body", `unknown unit " KiB"`},
	{"buffer_body no digits", `{"default": {"retry": {"buffer_body": "KiB"}}}`, "default.retry.buffer_body", `want a size such as "64KiB" or a number of bytes, got "KiB"`},
	{"buffer_body sign", `{"default": {"retry": {"buffer_body": "-5KiB"}}}`, "default.retry.buffer_body", `got "-5KiB"`},
	{"buffer_body fraction", `{"default": {"retry": {"buffer_body": 1.5}}}`, "default.retry.buffer_body", "got 1.5"},
	{"buffer_body bool", `{"default": {"retry": {"buffer_body": false}}}`, "default.retry.buffer_body", "got false"},

	// Issue 14: pacing, refusals_as_503, route_header and route names.
	{"pacing scope unknown", `{"default": {"pacing": {"scope": "path"}}}`, "default.pacing.scope", `want "host" or "route", got "path"`},
	{"pacing scope empty", `{"default": {"pacing": {"scope": ""}}}`, "default.pacing.scope", `got ""`},
	{"pacing max_wait negative", `{"default": {"pacing": {"max_wait": "-1s"}}}`, "default.pacing.max_wait", `negative duration "-1s"`},
	{"pacing max_wait none", `{"default": {"pacing": {"max_wait": "none"}}}`, "default.pacing.max_wait", `"none" turns a timeout off`},
	{"pacing rate negative", `{"default": {"pacing": {"rate": -1}}}`, "default.pacing.rate", "out of range"},
	{"pacing max_window negative", `{"default": {"pacing": {"max_window": "-1m"}}}`, "default.pacing.max_window", `negative duration "-1m"`},
	{"pacing burst fraction", `{"default": {"pacing": {"burst": 1.5}}}`, "default.pacing.burst", "want an integer"},
	{"pacing max_keys zero", `{"default": {"pacing": {"max_keys": 0}}}`, "default.pacing.max_keys", "out of range [1, 1048576]"},
	{"pacing unknown", `{"endpoints": {"GET /x": {"pacing": {"off": true}}}}`, `endpoints["GET /x"].pacing.off`, "unknown field"},
	// Issue 16 item 3: the concurrency limit.
	{"limit max negative", `{"default": {"limit": {"max": -1}}}`, "default.limit.max", "out of range [0, 1048576]"},
	{"limit max fraction", `{"default": {"limit": {"max": 2.5}}}`, "default.limit.max", "want an integer"},
	{"limit max_wait negative", `{"default": {"limit": {"max_wait": "-1s"}}}`, "default.limit.max_wait", `negative duration "-1s"`},
	{"limit scope unknown", `{"default": {"limit": {"scope": "method"}}}`, "default.limit.scope", `want "host" or "route", got "method"`},
	{"limit adaptive not bool", `{"default": {"limit": {"adaptive": 1}}}`, "default.limit.adaptive", "want true or false"},
	{"limit max_keys zero", `{"default": {"limit": {"max_keys": 0}}}`, "default.limit.max_keys", "out of range [1, 1048576]"},
	{"limit unknown", `{"endpoints": {"GET /x": {"limit": {"queue": 3}}}}`, `endpoints["GET /x"].limit.queue`, "unknown field"},
	{"refusals_as_503 not bool", `{"default": {"refusals_as_503": "yes"}}`, "default.refusals_as_503", ""},
	{"route name without route_header", `{"endpoints": {"DynamoDB_20120810.GetItem": {}}}`, `endpoints["DynamoDB_20120810.GetItem"]`, "route name"},
	{"empty endpoint key", `{"route_header": "X-Amz-Target", "endpoints": {"": {}}}`, `endpoints[""]`, "empty endpoint key"},
	{"route_header not a name", `{"route_header": "X Amz"}`, "route_header", `want a header name`},
	{"route_header not a string", `{"route_header": 1}`, "route_header", `want a header name`},

	// Issue 12 item 9: text after the object, duplicate names.
	{"trailing text", `{"default": {}} garbage`, "offset 16", "text after the top-level object"},
	{"two objects", "{}\n{}", "offset 3", "text after the top-level object"},
	{"trailing brace", `{}}`, "offset 2", "text after the top-level object"},
	{"duplicate top-level", `{"default": {}, "default": {}}`, "default", "duplicate name"},
	{"duplicate escaped", `{"default": {}, "d\u0065fault": {}}`, "default", "duplicate name"},
	{"duplicate policy field", `{"default": {"timeout": "1s", "timeout": "2s"}}`, "default.timeout", "duplicate name"},
	{"duplicate retry field", `{"default": {"retry": {"max_attempts": 2, "max_attempts": 3}}}`, "default.retry.max_attempts", "duplicate name"},
	{"duplicate retry object", `{"default": {"retry": {}, "retry": {}}}`, "default.retry", "duplicate name"},
	{"duplicate budget field", `{"default": {"retry": {"budget": {"ratio": 0.1, "ratio": 0.2}}}}`, "default.retry.budget.ratio", "duplicate name"},
	{"duplicate breaker field", `{"default": {"breaker": {"window": "1s", "window": "1s"}}}`, "default.breaker.window", "duplicate name"},
	{"duplicate pattern", `{"endpoints": {"GET /x": {}, "GET /x": {"no_retry": true}}}`, `endpoints["GET /x"]`, "duplicate name"},
	{"duplicate endpoint field", `{"endpoints": {"GET /x": {"no_retry": true, "no_retry": false}}}`, `endpoints["GET /x"].no_retry`, "duplicate name"},

	// Issue 12 item 7: set values out of order, named both.
	{"retry-after over elapsed", `{"default": {"retry": {"max_retry_after": "60s", "max_elapsed": "30s"}}}`,
		"default.retry.max_retry_after", "1m0s exceeds default.retry.max_elapsed (30s)"},
	{"elapsed over timeout", `{"default": {"retry": {"max_elapsed": "1m"}, "timeout": "10s"}}`,
		"default.retry.max_elapsed", "1m0s exceeds default.timeout (10s)"},
	{"retry-after over timeout", `{"default": {"retry": {"max_retry_after": "1m"}, "timeout": "10s"}}`,
		"default.retry.max_retry_after", "1m0s exceeds default.timeout (10s)"},
	{"endpoint's over the default's", `{"default": {"retry": {"max_elapsed": "30s"}}, "endpoints": {"POST /v1/enhancements": {"retry": {"max_retry_after": "60s"}}}}`,
		`endpoints["POST /v1/enhancements"].retry.max_retry_after`, "1m0s exceeds default.retry.max_elapsed (30s)"},
	{"default's over the endpoint's", `{"default": {"retry": {"max_retry_after": "30s"}}, "endpoints": {"GET /x": {"timeout": "10s"}}}`,
		`endpoints["GET /x"].timeout`, `10s is shorter than default.retry.max_retry_after (30s)`},
	{"endpoint's own pair", `{"default": {"timeout": "1h"}, "endpoints": {"GET /x": {"retry": {"max_elapsed": "2m"}, "timeout": "1m"}}}`,
		`endpoints["GET /x"].retry.max_elapsed`, `2m0s exceeds endpoints["GET /x"].timeout (1m0s)`},
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range configErrors {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.json))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseConfig() error = %v, want a *ConfigError", err)
			}
			if ce.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error = %q (field %q), want field %q and %q", err, ce.Field, tc.field, tc.msg)
			}
			if tc.field != "" && !strings.Contains(err.Error(), tc.field) {
				t.Errorf("message %q does not name the field %q", err, tc.field)
			}
		})
	}
}

// TestParseConfigAccepts guards what strictness must not reject, and what
// "none" and "0s" mean (issue 12 item 2).
func TestParseConfigAccepts(t *testing.T) {
	tests := []struct {
		name, json string
		check      func(t *testing.T, cfg Config)
	}{
		{"whitespace around", " \n\t{}\r\n ", func(t *testing.T, cfg Config) {}},
		{"same name in different objects", `{"default": {"retry": {"max_attempts": 2}}, "endpoints": {"GET /x": {"retry": {"max_attempts": 3}}}}`,
			func(t *testing.T, cfg Config) {
				if cfg.Default.Retry.MaxAttempts != 2 || cfg.Endpoints["GET /x"].Retry.MaxAttempts != 3 {
					t.Errorf("max_attempts = %d, %d; want 2, 3", cfg.Default.Retry.MaxAttempts, cfg.Endpoints["GET /x"].Retry.MaxAttempts)
				}
			}},
		{"none", `{"default": {"attempt_timeout": "none", "timeout": "none", "body_idle_timeout": "none"}}`,
			func(t *testing.T, cfg Config) {
				d := cfg.Default
				if d.AttemptTimeout != NoTimeout || d.Timeout != NoTimeout || d.BodyIdleTimeout != NoTimeout {
					t.Errorf("timeouts = %v, %v, %v; want NoTimeout ×3", d.AttemptTimeout, d.Timeout, d.BodyIdleTimeout)
				}
				if d.Retry.MaxElapsed != retry.DefaultMaxElapsed || d.Retry.MaxRetryAfter != retry.DefaultMaxRetryAfter {
					t.Errorf("retry bounds = %v, %v; want the defaults with no total timeout", d.Retry.MaxElapsed, d.Retry.MaxRetryAfter)
				}
			}},
		{"0s is the default", `{"default": {"attempt_timeout": "0s", "timeout": "0s", "body_idle_timeout": "0s", "retry": {"max_elapsed": "0s"}}}`,
			func(t *testing.T, cfg Config) {
				d := cfg.Default
				if d.AttemptTimeout != DefaultAttemptTimeout || d.Timeout != DefaultTimeout || d.BodyIdleTimeout != DefaultBodyIdleTimeout ||
					d.Retry.MaxElapsed != retry.DefaultMaxElapsed {
					t.Errorf("timeouts = %v, %v, %v, %v; want the defaults", d.AttemptTimeout, d.Timeout, d.BodyIdleTimeout, d.Retry.MaxElapsed)
				}
			}},
		{"endpoint turns an inherited timeout off", `{"default": {"attempt_timeout": "5s"}, "endpoints": {"GET /x": {"attempt_timeout": "none"}}}`,
			func(t *testing.T, cfg Config) {
				if got := cfg.Endpoints["GET /x"].AttemptTimeout; got != NoTimeout {
					t.Errorf("attempt_timeout = %v, want NoTimeout", got)
				}
			}},
		{"endpoint's 0s is the package default", `{"default": {"attempt_timeout": "5s"}, "endpoints": {"GET /x": {"attempt_timeout": "0s"}}}`,
			func(t *testing.T, cfg Config) {
				if got := cfg.Endpoints["GET /x"].AttemptTimeout; got != DefaultAttemptTimeout {
					t.Errorf("attempt_timeout = %v, want %v", got, DefaultAttemptTimeout)
				}
			}},
		{"empty status list", `{"default": {"retry_statuses": [409]}, "endpoints": {"GET /x": {"retry_statuses": []}}}`,
			func(t *testing.T, cfg Config) {
				if got := cfg.Endpoints["GET /x"].RetryStatuses; got != nil {
					t.Errorf("retry_statuses = %#v, want nil", got)
				}
			}},
		// Issue 14: sizes in bytes or units; modes inherited and undone.
		{"sdk_retries and buffer_body", `{"default": {"retry": {"sdk_retries": "stainless", "buffer_body": "64KiB"}},
			"endpoints": {"GET /off": {"retry": {"sdk_retries": "none", "buffer_body": 0}}, "GET /inherits": {},
			"GET /b": {"retry": {"sdk_retries": "always", "buffer_body": 1000}}, "GET /s": {"retry": {"buffer_body": "1000"}},
			"GET /m": {"retry": {"buffer_body": "1MiB"}}, "GET /g": {"retry": {"buffer_body": "1GiB"}}, "GET /u": {"retry": {"buffer_body": "7B"}}}}`,
			func(t *testing.T, cfg Config) {
				for name, want := range map[string]struct {
					mode retry.SDKRetriesMode
					size int64
				}{
					"default": {retry.SDKStainless, 64 << 10}, "GET /off": {retry.SDKNone, 0}, "GET /inherits": {retry.SDKStainless, 64 << 10},
					"GET /b": {retry.SDKAlways, 1000}, "GET /s": {retry.SDKStainless, 1000}, "GET /m": {retry.SDKStainless, 1 << 20},
					"GET /g": {retry.SDKStainless, 1 << 30}, "GET /u": {retry.SDKStainless, 7},
				} {
					p, ok := cfg.Endpoints[name]
					if name == "default" {
						p, ok = cfg.Default, true
					}
					if !ok || p.Retry.SDKRetriesMode != want.mode || p.Retry.BufferBody != want.size {
						t.Errorf("%s: sdk_retries %q, buffer_body %d; want %q, %d", name, p.Retry.SDKRetriesMode, p.Retry.BufferBody, want.mode, want.size)
					}
				}
			}},
		// An endpoint's own value implies its others, not the default's.
		{"endpoint implies", `{"default": {"timeout": "5m"}, "endpoints": {"GET /x": {"retry": {"max_retry_after": "2m"}}, "GET /y": {"timeout": "10s"}}}`,
			func(t *testing.T, cfg Config) {
				if x := cfg.Endpoints["GET /x"]; x.Retry.MaxElapsed != 2*time.Minute || x.Timeout != 5*time.Minute {
					t.Errorf("GET /x max_elapsed, timeout = %v, %v; want 2m, 5m", x.Retry.MaxElapsed, x.Timeout)
				}
				if y := cfg.Endpoints["GET /y"]; y.Retry.MaxElapsed != 10*time.Second || y.Retry.MaxRetryAfter != 10*time.Second {
					t.Errorf("GET /y max_elapsed, max_retry_after = %v, %v; want 10s, 10s", y.Retry.MaxElapsed, y.Retry.MaxRetryAfter)
				}
				if d := cfg.Default; d.Retry.MaxElapsed != retry.DefaultMaxElapsed || d.Retry.MaxRetryAfter != retry.DefaultMaxRetryAfter {
					t.Errorf("default max_elapsed, max_retry_after = %v, %v; want the defaults", d.Retry.MaxElapsed, d.Retry.MaxRetryAfter)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.json))
			if err != nil {
				t.Fatalf("ParseConfig() error = %v", err)
			}
			tc.check(t, cfg)
		})
	}
}

// roundTrip marshals cfg and parses it back. What a file reads back (a
// resolved Config) must write the same bytes again.
func roundTrip(t *testing.T, cfg Config) (Config, []byte) {
	t.Helper()
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("json.Marshal() error = %v", err)
	}
	back, err := ParseConfig(out)
	if err != nil {
		t.Fatalf("ParseConfig(%s) error = %v", out, err)
	}
	again, err := json.Marshal(back)
	if err != nil {
		t.Fatalf("json.Marshal(read back) error = %v", err)
	}
	if backAgain, err := ParseConfig(again); err != nil {
		t.Fatalf("ParseConfig(%s) error = %v", again, err)
	} else if third, _ := json.Marshal(backAgain); !bytes.Equal(third, again) {
		t.Errorf("a file read back writes\n%s\nthen\n%s", again, third)
	}
	return back, out
}

// TestConfigRoundTripPartner guards issue 12 item 2: the partner file
// written back reads back equal.
func TestConfigRoundTripPartner(t *testing.T) {
	cfg, err := LoadConfig("testdata/partner-api.json")
	if err != nil {
		t.Fatal(err)
	}
	back, out := roundTrip(t, cfg)
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("read back\n%+v\nwant\n%+v\nfrom %s", back, cfg, out)
	}
	if again, _ := json.Marshal(back); !bytes.Equal(again, out) {
		t.Errorf("written again\n%s\nwant\n%s", again, out)
	}
	var generic struct{ Endpoints map[string]map[string]any }
	if err := json.Unmarshal(out, &generic); err != nil {
		t.Fatal(err)
	}
	eps := generic.Endpoints
	if x := eps["/v1/exports/"]; x["attempt_timeout"] != "none" || x["timeout"] != "5m0s" || x["breaker"] == nil {
		t.Errorf("/v1/exports/ written as %v, want attempt_timeout none, timeout 5m0s, its breaker", x)
	}
	if e := eps["POST /v1/enhancements"]; e["breaker"] != nil || e["attempt_timeout"] != "30s" {
		t.Errorf("POST /v1/enhancements written as %v, want no breaker (shared), attempt_timeout 30s", e)
	}
	if l := eps["POST /v1/lists"]; len(l) != 1 {
		t.Errorf("POST /v1/lists written as %v, want only what it changes (retry)", l)
	}
	// json.Unmarshal reads what json.Marshal writes.
	var viaJSON Config
	if err := json.Unmarshal(out, &viaJSON); err != nil {
		t.Fatalf("json.Unmarshal() error = %v", err)
	}
	if !reflect.DeepEqual(viaJSON, back) {
		t.Errorf("json.Unmarshal = %+v, want %+v", viaJSON, back)
	}
}

// TestConfigRoundTrip writes Configs built in code and checks what a file
// makes of them (issue 12 item 2).
func TestConfigRoundTrip(t *testing.T) {
	resolved := func(t *testing.T, p Policy) Policy {
		t.Helper()
		r, err := p.resolve("test")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name string
		cfg  Config
		want func(t *testing.T) Config // nil: cfg resolved
		json []string                  // fragments the file must hold
		not  []string                  // and must not
	}{
		{name: "zero", cfg: Config{}, json: []string{`{}`}, not: []string{"default"}},
		{name: "zero resolved", cfg: Config{Default: mustResolve(Policy{})},
			json: []string{`{"default":{"retry":{"max_elapsed":"30s","max_retry_after":"30s"},"attempt_timeout":"10s","timeout":"30s","body_idle_timeout":"1m0s"}}`}},
		{name: "none", cfg: Config{Default: Policy{AttemptTimeout: NoTimeout, Timeout: -time.Second, BodyIdleTimeout: NoTimeout}},
			json: []string{`"attempt_timeout":"none","timeout":"none","body_idle_timeout":"none"`}},
		{name: "every field", cfg: Config{Default: Policy{
			Retry: retry.Policy{MaxAttempts: 7, BaseDelay: time.Millisecond, MaxDelay: time.Second, MaxElapsed: time.Minute,
				MaxRetryAfter: 20 * time.Second, RequireIdempotencyKey: true, WaitForBreaker: true,
				SDKRetriesMode: retry.SDKAlways, BufferBody: 4096},
			Breaker: breaker.Policy{Window: time.Second, MinRequests: 5, FailureRatio: 0.25, ConsecutiveFailures: 4,
				OpenTimeout: time.Second, HalfOpenProbes: 2, CountRateLimited: true, MaxKeys: 9, ProbeTimeout: 3 * time.Second},
			Credits:        Credits{Enabled: true, Policy: credits.Policy{Cooldown: time.Hour, MaxKeys: 3}},
			AttemptTimeout: time.Second, Timeout: 2 * time.Minute, BodyIdleTimeout: 5 * time.Second,
			RetryStatuses: []int{409}, NoRetryStatuses: []int{503, 504}, NoRetry: true, NoBreaker: true, NoTracing: true,
			Pacing:   pacing.Policy{MaxWait: 10 * time.Second, MaxWindow: time.Minute, Scope: pacing.ScopeRoute, Rate: 5, Burst: 10, MaxKeys: 100},
			NoPacing: true, RefusalsAs503: true, IdempotencyKey: true,
		}}, json: []string{`"idempotency_key":true`}},
		// Issue 16 item 2: hedging is data, overlaid field by field.
		{name: "hedge", cfg: Config{
			Default: Policy{Retry: retry.Policy{Hedge: retry.HedgePolicy{Delay: 50 * time.Millisecond, Quantile: 0.95, Max: 2}}},
			Endpoints: map[string]Policy{
				"GET /same":  {Retry: retry.Policy{Hedge: retry.HedgePolicy{Delay: 50 * time.Millisecond, Quantile: 0.95, Max: 2}}},
				"GET /fixed": {Retry: retry.Policy{Hedge: retry.HedgePolicy{Delay: 20 * time.Millisecond, Max: 2}}},
				"POST /off":  {Retry: retry.Policy{Hedge: retry.HedgePolicy{Max: 1}}}, // a Max of 0 would be written as 1
			},
		}, json: []string{`"default":{"retry":{"hedge":{"delay":"50ms","quantile":0.95,"max":2}}}`,
			`"GET /fixed":{"retry":{"hedge":{"delay":"20ms","quantile":0}}}`, `"GET /same":{}`,
			`"POST /off":{"retry":{"hedge":{"delay":"0s","quantile":0,"max":1}}}`}},
		{name: "endpoint without the default's key", cfg: Config{
			Default:   Policy{IdempotencyKey: true},
			Endpoints: map[string]Policy{"POST /once": {}, "POST /keyed": {IdempotencyKey: true}},
		}, json: []string{`"default":{"idempotency_key":true}`, `"POST /once":{"idempotency_key":false}`, `"POST /keyed":{}`}},
		{name: "endpoint undoes the default", cfg: Config{
			Default: Policy{Retry: retry.Policy{MaxAttempts: 5, RequireIdempotencyKey: true}, AttemptTimeout: time.Second,
				RetryStatuses: []int{409}, NoTracing: true, Breaker: breaker.Policy{ConsecutiveFailures: 3}},
			Endpoints: map[string]Policy{"GET /x": {Retry: retry.Policy{MaxAttempts: 5}, Breaker: breaker.Policy{MaxKeys: 2, ConsecutiveFailures: 3}}},
		}, json: []string{`"GET /x":{"retry":{"require_idempotency_key":false},"breaker":{"max_keys":2},"attempt_timeout":"0s","retry_statuses":[],"no_tracing":false}`}},
		{name: "zero counts a file cannot hold", cfg: Config{
			Default:   Policy{Retry: retry.Policy{MaxAttempts: 5}, Breaker: breaker.Policy{ConsecutiveFailures: 3}},
			Endpoints: map[string]Policy{"GET /x": {Breaker: breaker.Policy{MaxKeys: 2}}},
		}, want: func(t *testing.T) Config {
			return Config{
				Default: resolved(t, Policy{Retry: retry.Policy{MaxAttempts: 5}, Breaker: breaker.Policy{ConsecutiveFailures: 3}}),
				Endpoints: map[string]Policy{"GET /x": resolved(t, Policy{Retry: retry.Policy{MaxAttempts: retry.DefaultMaxAttempts},
					Breaker: breaker.Policy{MaxKeys: 2, ConsecutiveFailures: breaker.DefaultConsecutiveFailures}})},
			}
		}, json: []string{`"GET /x":{"retry":{"max_attempts":3},"breaker":{"consecutive_failures":10,"max_keys":2}`}},
		{name: "own breaker like the default's", cfg: Config{
			Default:   Policy{Breaker: breaker.Policy{ConsecutiveFailures: 3}},
			Endpoints: map[string]Policy{"GET /own": {Breaker: breaker.Policy{ConsecutiveFailures: 3}}, "GET /shared": {}},
		}, json: []string{`"GET /own":{"breaker":{}`}, not: []string{`"GET /shared":{"breaker"`}},
		{name: "negative delays mean the default", cfg: Config{Default: Policy{Retry: retry.Policy{BaseDelay: -time.Second}}},
			want: func(t *testing.T) Config { return Config{Default: resolved(t, Policy{})} }, not: []string{"base_delay"}},
		// Issue 13 item 6: budgets are data, written whole when a policy has
		// its own, and read back equal.
		{name: "budget of its own", cfg: Config{
			Default: Policy{Retry: retry.Policy{Budget: retry.BudgetPolicy{Ratio: 0.5, MinPerSecond: 1, Window: 5 * time.Second}}},
			Endpoints: map[string]Policy{
				"GET /own":    {Retry: retry.Policy{Budget: retry.BudgetPolicy{Ratio: 0.5, MinPerSecond: 1, Window: 5 * time.Second}}},
				"GET /shared": {},
			},
		}, json: []string{`"default":{"retry":{"budget":{"ratio":0.5,"min_per_second":1,"window":"5s"}`,
			`"GET /own":{"retry":{"budget":{"ratio":0.5,"min_per_second":1,"window":"5s"}}`},
			not: []string{`"GET /shared":{"retry"`}},
		{name: "budget as a Stack runs it", cfg: Config{Default: Policy{Retry: retry.Policy{
			Budget: retry.BudgetPolicy{Ratio: -1, MinPerSecond: 3}, SharedBudget: retry.NewBudget(1, 1, time.Second)}}},
			want: func(t *testing.T) Config {
				return Config{Default: resolved(t, Policy{Retry: retry.Policy{
					Budget: retry.BudgetPolicy{Ratio: 0, MinPerSecond: 3, Window: retry.DefaultBudgetWindow}}})}
			}, json: []string{`"budget":{"ratio":0,"min_per_second":3,"window":"10s"}`}},
		// Issue 14: sdk_retries and buffer_body, in the largest exact unit;
		// an endpoint undoing the default's spells "none" and 0.
		{name: "sdk retries and buffered bodies", cfg: Config{
			Default: Policy{Retry: retry.Policy{SDKRetriesMode: retry.SDKStainless, BufferBody: 64 << 10}},
			Endpoints: map[string]Policy{
				"GET /off":  {},
				"GET /same": {Retry: retry.Policy{SDKRetriesMode: retry.SDKStainless, BufferBody: 64 << 10}},
				"GET /b":    {Retry: retry.Policy{SDKRetriesMode: retry.SDKAlways, BufferBody: 1000}},
				"GET /m":    {Retry: retry.Policy{SDKRetriesMode: retry.SDKStainless, BufferBody: 3 << 20}},
				"GET /g":    {Retry: retry.Policy{SDKRetriesMode: retry.SDKStainless, BufferBody: 1 << 30}},
			},
		}, json: []string{`"default":{"retry":{"sdk_retries":"stainless","buffer_body":"64KiB"}`,
			`"GET /off":{"retry":{"sdk_retries":"none","buffer_body":0}}`, `"GET /b":{"retry":{"sdk_retries":"always","buffer_body":1000}}`,
			`"GET /m":{"retry":{"buffer_body":"3MiB"}}`, `"GET /g":{"retry":{"buffer_body":"1GiB"}}`},
			not: []string{`"GET /same":{"retry"`}},
		{name: "negative buffer_body means none", cfg: Config{Default: Policy{Retry: retry.Policy{BufferBody: -5}}},
			want: func(t *testing.T) Config { return Config{Default: resolved(t, Policy{})} }, not: []string{"buffer_body"}},
		{name: "code-only retry hooks are not written", cfg: Config{Default: Policy{Retry: retry.Policy{
			SDKRetries: retry.StainlessSDK, PrepareRetry: func(*http.Request, int) error { return nil }, Observer: nopObserver{}}}},
			want: func(t *testing.T) Config { return Config{Default: resolved(t, Policy{})} }, not: []string{"sdk", "prepare", "observer"}},
		// Issue 14: pacing, refusals as 503, a route header and names.
		{name: "pacing and routing", cfg: Config{
			RouteHeader: "X-Amz-Target",
			Default:     Policy{Pacing: pacing.Policy{MaxWait: 10 * time.Second, Rate: 2.5}, RefusalsAs503: true},
			Endpoints: map[string]Policy{
				"DynamoDB_20120810.GetItem": {Pacing: pacing.Policy{MaxWait: -1, Scope: pacing.ScopeRoute, Rate: 2.5, Burst: 4}},
				"POST /":                    {Pacing: pacing.Policy{MaxWait: 10 * time.Second, Rate: 2.5}, NoPacing: true},
				"GET /zero":                 {RefusalsAs503: true},
			},
		}, json: []string{`"route_header":"X-Amz-Target"`, `"default":{"pacing":{"max_wait":"10s","rate":2.5},"refusals_as_503":true}`,
			`"DynamoDB_20120810.GetItem":{"pacing":{"max_wait":"never","scope":"route","burst":4},"refusals_as_503":false}`,
			`"POST /":{"no_pacing":true,"refusals_as_503":false}`, `"GET /zero":{"pacing":{"max_wait":"0s","rate":0}}`}},
		{name: "code-only Route is not written", cfg: Config{Route: func(*http.Request) string { return "" }},
			want: func(t *testing.T) Config { return Config{Default: resolved(t, Policy{})} }, not: []string{"route"}},
		{name: "empty scope means host", cfg: Config{Default: Policy{Pacing: pacing.Policy{Scope: pacing.ScopeRoute}},
			Endpoints: map[string]Policy{"GET /x": {Pacing: pacing.Policy{Scope: ""}}}},
			want: func(t *testing.T) Config {
				return Config{Default: resolved(t, Policy{Pacing: pacing.Policy{Scope: pacing.ScopeRoute}}),
					Endpoints: map[string]Policy{"GET /x": resolved(t, Policy{Pacing: pacing.Policy{Scope: pacing.ScopeHost}})}}
			}, json: []string{`"GET /x":{"pacing":{"scope":"host"}}`}},
		// Issue 16 item 3: the concurrency limit, and an endpoint turning
		// the default's off with max 0.
		{name: "limit", cfg: Config{
			Default: Policy{Limit: limit.Policy{Max: 10, MaxWait: time.Second, Scope: limit.ScopeRoute, Adaptive: true}},
			Endpoints: map[string]Policy{
				"GET /x":     {Limit: limit.Policy{Max: 10, MaxWait: -1, Scope: limit.ScopeRoute, Adaptive: true, MinLimit: 2, MaxKeys: 50}},
				"POST /y":    {Limit: limit.Policy{MaxWait: time.Second, Scope: limit.ScopeRoute, Adaptive: true}},
				"GET /host/": {Limit: limit.Policy{Max: 10, MaxWait: time.Second, Scope: limit.ScopeHost}},
			},
		}, json: []string{`"default":{"limit":{"max":10,"max_wait":"1s","scope":"route","adaptive":true}`,
			`"GET /x":{"limit":{"max_wait":"never","min_limit":2,"max_keys":50}}`, `"POST /y":{"limit":{"max":0}}`,
			`"GET /host/":{"limit":{"scope":"host","adaptive":false}}`}},
		{name: "pattern needing escapes", cfg: Config{Endpoints: map[string]Policy{`GET /a/"q"/<b>`: {NoRetry: true}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.cfg
			if tc.want != nil {
				want = tc.want(t)
			} else {
				want.Default = resolved(t, want.Default)
				if want.Endpoints != nil {
					want.Endpoints = make(map[string]Policy, len(tc.cfg.Endpoints))
					for k, p := range tc.cfg.Endpoints {
						want.Endpoints[k] = resolved(t, p)
					}
				}
			}
			back, out := roundTrip(t, tc.cfg)
			if !reflect.DeepEqual(back, want) {
				t.Errorf("read back\n%+v\nwant\n%+v\nfrom %s", back, want, out)
			}
			for _, s := range tc.json {
				if !strings.Contains(string(out), s) {
					t.Errorf("written %s\nwant it to hold %s", out, s)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(string(out), s) {
					t.Errorf("written %s\nwant it not to hold %s", out, s)
				}
			}
		})
	}
}

func mustResolve(p Policy) Policy {
	r, err := p.resolve("test")
	if err != nil {
		panic(err)
	}
	return r
}

// TestMarshalConfigError: a value no file can hold (NaN) fails json.Marshal
// with an error naming the field, as ParseConfig's errors do.
func TestMarshalConfigError(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{Default: Policy{Breaker: breaker.Policy{FailureRatio: nanFloat()}}}, "default.breaker.failure_ratio: "},
		{Config{Endpoints: map[string]Policy{"GET /x": {Retry: retry.Policy{Hedge: retry.HedgePolicy{Quantile: nanFloat()}}}}},
			`endpoints["GET /x"].retry.hedge.quantile: `},
		{Config{Endpoints: map[string]Policy{"GET /x": {Pacing: pacing.Policy{Rate: nanFloat()}}}}, `endpoints["GET /x"].pacing.rate: `},
	} {
		_, err := json.Marshal(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("json.Marshal() error = %v, want one naming %s", err, tc.field)
		}
	}
}

// A mode no file can hold is written as it is, for ParseConfig to reject.
func TestMarshalUnknownSDKRetriesMode(t *testing.T) {
	out, err := json.Marshal(Config{Default: Policy{Retry: retry.Policy{SDKRetriesMode: "sometimes"}}})
	if err != nil {
		t.Fatal(err)
	}
	var ce *ConfigError
	if _, err := ParseConfig(out); !errors.As(err, &ce) || ce.Field != "default.retry.sdk_retries" {
		t.Errorf("ParseConfig(%s) error = %v, want a *ConfigError at default.retry.sdk_retries", out, err)
	}
}

type nopObserver struct{}

func (nopObserver) Retrying(errclass.Outcome, errclass.Attempt)       {}
func (nopObserver) GaveUp(errclass.Outcome, int, errclass.StopReason) {}

func nanFloat() float64 {
	zero := 0.0
	return zero / zero
}

// TestParseCredits guards the "credits" object (issue 12 item 4): off
// unless a policy turns it on, inherited and overridden by endpoints.
func TestParseCredits(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{
		"default": {"credits": {"cooldown": "2m"}},
		"endpoints": {
			"POST /v1/enhancements": {"credits": {"enabled": true, "max_keys": 50}},
			"GET /v1/jobs/{id}": {}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Default.Credits; c.Enabled || c.Cooldown != 2*time.Minute {
		t.Errorf("default credits = %+v, want off with a 2m cooldown", c)
	}
	if c := cfg.Endpoints["POST /v1/enhancements"].Credits; !c.Enabled || c.Cooldown != 2*time.Minute || c.MaxKeys != 50 {
		t.Errorf("POST /v1/enhancements credits = %+v, want on, 2m (inherited), 50", c)
	}
	if c := cfg.Endpoints["GET /v1/jobs/{id}"].Credits; c.Enabled {
		t.Errorf("GET /v1/jobs/{id} credits = %+v, want off", c)
	}
	back, out := roundTrip(t, cfg)
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("read back %+v, want %+v", back, cfg)
	}
	if want := `"POST /v1/enhancements":{"credits":{"enabled":true,"max_keys":50}}`; !strings.Contains(string(out), want) {
		t.Errorf("written %s\nwant it to hold %s", out, want)
	}

	for _, bad := range []struct{ json, field string }{
		{`{"cooldown": "none"}`, "default.credits.cooldown"},
		{`{"max_keys": 0}`, "default.credits.max_keys"},
		{`{"enabled": true, "enabled": false}`, "default.credits.enabled"},
		{`{"latch": true}`, "default.credits.latch"},
		{`{"remaining_header": "X Credits"}`, "default.credits.remaining_header"},
		{`{"remaining_field": "meta..x"}`, "default.credits.remaining_field"},
		{`{"remaining_field": 3}`, "default.credits.remaining_field"},
	} {
		_, err := ParseConfig([]byte(`{"default": {"credits": ` + bad.json + `}}`))
		if ce := (*ConfigError)(nil); !errors.As(err, &ce) || ce.Field != bad.field {
			t.Errorf("credits %s: error = %v, want a *ConfigError at %s", bad.json, err, bad.field)
		}
	}
	// A zero count is written as the default it stands for.
	c := Credits{Enabled: true}
	if got := string(encodeCredits(Credits{}, Credits{Enabled: true, Policy: credits.Policy{Cooldown: time.Second, MaxKeys: 5}}).bytes()); got != `{"enabled":false,"cooldown":"0s","max_keys":1000}` {
		t.Errorf("encodeCredits(zero over the default's) = %s", got)
	}
	if o := encodeCredits(c, c); !o.isEmpty() {
		t.Errorf("encodeCredits(same as the default's) = %s, want nothing", o.bytes())
	}
}

// FuzzParseConfig guards issue 12 item 9: ParseConfig never panics, fails
// only with a *ConfigError, and what it accepts builds a Stack and writes
// back to a file that reads back the same.
func FuzzParseConfig(f *testing.F) {
	partner, err := os.ReadFile("testdata/partner-api.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(partner)
	for _, tc := range configErrors {
		f.Add([]byte(tc.json))
	}
	f.Add([]byte(`{"default": {"attempt_timeout": "none", "timeout": "none", "body_idle_timeout": "none"}, "endpoints": {"/v1/exports/": {"timeout": "0s"}}}`))
	f.Add([]byte(`{"default": {"credits": {"remaining_header": "X-Credits-Remaining"}}, "endpoints": {"POST /v1/enhancements": {"credits": {"enabled": true, "remaining_field": "meta.imports_remaining", "remaining_header": ""}}}}`))
	f.Add([]byte(`{"default": {"retry": {"max_retry_after": "60s"}}, "endpoints": {"GET /x": {"timeout": "none", "breaker": {}}, "GET /{$}": {"retry_statuses": []}}}`))
	f.Add([]byte(`{"default": {"retry": {"budget": {"ratio": 0.5, "window": "1s"}}}, "endpoints": {"POST h/a": {"retry": {"budget": {"window": "2s"}}}}}`))
	f.Add([]byte(`{"route_header":"0","endpoints":{"0":{"pacing":{"scope":"host"}}}}`)) // an explicit "host" under an empty default
	f.Add([]byte(`{"default": {"credits": {"cooldown": "1m"}}, "endpoints": {"POST /v1/enhancements": {"credits": {"enabled": true, "max_keys": 10}}}}`))
	f.Add([]byte(`{"default": {"retry": {"hedge": {"delay": "50ms", "quantile": 0.95, "max": 1}}}, "endpoints": {"GET /x": {"retry": {"hedge": {"quantile": 0}}}, "POST /y": {"retry": {"hedge": {"delay": "0s", "max": 3}}}}}`))
	f.Add([]byte(`{"default": {"retry": {"sdk_retries": "stainless", "buffer_body": "64KiB"}}, "endpoints": {"POST /": {"retry": {"sdk_retries": "none", "buffer_body": 0}}, "GET /x": {"retry": {"sdk_retries": "always", "buffer_body": 1000}}}}`))
	f.Add([]byte(`{"default": {"retry": {"buffer_body": "1GiB"}}, "endpoints": {"GET /a": {"retry": {"buffer_body": "1024"}}, "GET /b": {"retry": {"buffer_body": "3MiB"}}}}`))
	f.Add([]byte(`{"route_header": "X-Amz-Target", "default": {"pacing": {"max_wait": "10s", "scope": "route", "rate": 5, "burst": 10, "max_keys": 1000}, "refusals_as_503": true}, "endpoints": {"DynamoDB_20120810.GetItem": {"no_pacing": true}, "POST /": {"pacing": {"max_wait": "never", "scope": "host"}}}}`))
	f.Add([]byte(`{"endpoints": {"GET /x": {"pacing": {"rate": 0.5}, "refusals_as_503": true}, "/api/v3/": {"no_pacing": true}}}`))
	f.Add([]byte(`{"default": {"limit": {"max": 10, "max_wait": "1s", "scope": "route", "adaptive": true}}, "endpoints": {"GET /x": {"limit": {"max": 0}}, "POST /y": {"limit": {"max_wait": "never", "scope": "host", "min_limit": 2, "max_keys": 5}}}}`))
	f.Add([]byte(`{"default": {"idempotency_key": true}, "endpoints": {"GET /x": {"idempotency_key": false}, "POST /v1/jobs": {"retry": {"require_idempotency_key": true}}}}`))
	stub := RoundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("not sent") })
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseConfig() error = %v (%T), want a *ConfigError", err, err)
			}
			return
		}
		if _, err := NewStack(stub, cfg); err != nil {
			t.Fatalf("NewStack(accepted config) error = %v", err)
		}
		back, out := roundTrip(t, cfg)
		if !reflect.DeepEqual(back, cfg) {
			t.Errorf("read back %+v, want %+v", back, cfg)
		}
		if again, _ := json.Marshal(back); !bytes.Equal(again, out) {
			t.Errorf("written again\n%s\nwant\n%s", again, out)
		}
	})
}

// TestConfigBudgetsPerStack guards issue 13 item 6: a Config holds no live
// state, so two clients built from one parsed Config share no budget;
// within a stack, an endpoint that names "budget" gets its own and one
// that does not shares the stack's; a retry.Budget given in code is the
// explicit way to share.
func TestConfigBudgetsPerStack(t *testing.T) {
	// One retry per 10s window; no breaker to refuse the failing calls.
	cfg, err := ParseConfig([]byte(`{
		"default": {"no_breaker": true, "retry": {"max_attempts": 2, "base_delay": "1ms", "max_delay": "1ms",
			"budget": {"ratio": 0, "min_per_second": 0.1, "window": "10s"}}},
		"endpoints": {"GET /own": {"retry": {"budget": {}}}, "GET /shared": {}}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int64
	down := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		return &http.Response{StatusCode: 503, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	// get returns how many attempts one GET of path through c made.
	get := func(t *testing.T, c *http.Client, path string) int64 {
		t.Helper()
		before := attempts.Load()
		resp, err := c.Get("http://127.0.0.1" + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return attempts.Load() - before
	}
	newClient := func(t *testing.T, cfg Config) *http.Client {
		t.Helper()
		c, err := NewClient(&http.Client{Transport: down}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	a, b := newClient(t, cfg), newClient(t, cfg)
	if got := get(t, a, "/x"); got != 2 {
		t.Fatalf("first call through a: %d attempts, want 2 (the budget's one retry)", got)
	}
	if got := get(t, a, "/x"); got != 1 {
		t.Errorf("second call through a: %d attempts, want 1 (budget spent)", got)
	}
	if got := get(t, a, "/shared"); got != 1 {
		t.Errorf("an endpoint without \"budget\": %d attempts, want 1 (it shares the stack's, spent)", got)
	}
	if got := get(t, a, "/own"); got != 2 {
		t.Errorf("an endpoint that names \"budget\": %d attempts, want 2 (a budget of its own)", got)
	}
	if got := get(t, b, "/x"); got != 2 {
		t.Errorf("a second client from the same Config: %d attempts, want 2: it shares the first's budget", got)
	}

	// Sharing is explicit: the same live Budget in both.
	cfg.Default.Retry.SharedBudget = retry.NewBudget(0, 0.1, 10*time.Second)
	a, b = newClient(t, cfg), newClient(t, cfg)
	get(t, a, "/x")
	if got := get(t, b, "/x"); got != 1 {
		t.Errorf("a client given the Budget another spent: %d attempts, want 1", got)
	}
	if cfg.Endpoints["GET /own"].Retry.SharedBudget != nil {
		t.Error("NewClient wrote a live budget into the caller's Config")
	}
}

// TestConfigNamesMatchGo guards issue 13 item 6: every name a policy file
// knows is a Go field's name in snake_case, and every Go field that is not
// code-only (json:"-") has a name in the file.
func TestConfigNamesMatchGo(t *testing.T) {
	snake := func(name string) string {
		var b strings.Builder
		for i, r := range name {
			if 'A' <= r && r <= 'Z' {
				if i > 0 {
					b.WriteByte('_')
				}
				r += 'a' - 'A'
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	// names lists the file names of typ's fields, and which are objects.
	// A json tag names a field whose Go name does not snake well
	// (SDKRetriesMode: "sdk_retries").
	var names func(typ reflect.Type, out map[string]reflect.Type)
	names = func(typ reflect.Type, out map[string]reflect.Type) {
		for f := range typ.Fields() {
			switch tag := f.Tag.Get("json"); {
			case !f.IsExported() || tag == "-":
			case f.Anonymous: // credits.Policy in Credits: one object
				names(f.Type, out)
			case tag != "":
				out[tag] = f.Type
			default:
				out[snake(f.Name)] = f.Type
			}
		}
	}
	// at nests member in the objects of path: at([a b], m) = {"a":{"b":m}}.
	at := func(path []string, member string) string {
		s := "{" + member + "}"
		for i := len(path) - 1; i >= 0; i-- {
			s = `{"` + path[i] + `":` + s + "}"
		}
		return s
	}
	var check func(path []string, typ reflect.Type)
	check = func(path []string, typ reflect.Type) {
		want := map[string]reflect.Type{}
		names(typ, want)
		_, err := ParseConfig([]byte(at(path, `"not_a_field": 1`)))
		_, known, ok := strings.Cut(fmt.Sprint(err), "(known: ")
		if !ok {
			t.Fatalf("%v: error = %v, want the known fields listed", path, err)
		}
		got := strings.Split(strings.TrimSuffix(known, ")"), ", ")
		if !reflect.DeepEqual(got, sortedKeys(want)) {
			t.Errorf("%s (%v): file names %v, want the Go names %v", strings.Join(path, "."), typ, got, sortedKeys(want))
		}
		for name, ft := range want {
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]() {
				check(append(slices.Clone(path), name), ft)
			}
		}
	}
	check([]string{"default"}, reflect.TypeFor[Policy]())
	check([]string{"endpoints", "GET /x"}, reflect.TypeFor[Policy]())
	check(nil, reflect.TypeFor[Config]())
}

// TestConfigRetryHooksReachStack guards issue 14 items 2–4 through a
// stack: a policy file's sdk_retries and buffer_body, and the code-only
// PrepareRetry and Observer, act on the requests of their policy.
func TestConfigRetryHooksReachStack(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{
		"default": {"no_breaker": true, "retry": {"base_delay": "1ms", "max_delay": "1ms"}},
		"endpoints": {
			"POST /v1/chat/completions": {"retry": {"sdk_retries": "stainless"}},
			"POST /": {"retry": {"buffer_body": "1KiB"}}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	type seen struct{ path, body, attempt string }
	var mu sync.Mutex
	var got []seen
	down := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		var b []byte
		if r.Body != nil {
			b, _ = io.ReadAll(r.Body)
			r.Body.Close()
		}
		mu.Lock()
		got = append(got, seen{r.URL.Path, string(b), r.Header.Get("Amz-Sdk-Request")})
		mu.Unlock()
		return &http.Response{StatusCode: 503, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	var gaveUp []errclass.StopReason
	p := cfg.Endpoints["POST /"]
	p.Retry.PrepareRetry = func(r *http.Request, attempt int) error {
		r.Header.Set("Amz-Sdk-Request", fmt.Sprintf("attempt=%d", attempt))
		return nil
	}
	p.Retry.Observer = giveUpRecorder{&gaveUp}
	cfg.Endpoints["POST /"] = p
	c, err := NewClient(&http.Client{Transport: down}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	send := func(path string, body io.Reader, header http.Header) []seen {
		t.Helper()
		mu.Lock()
		got = nil
		mu.Unlock()
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1"+path, body)
		maps.Copy(req.Header, header)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}

	if n := len(send("/v1/chat/completions", nil, http.Header{"X-Stainless-Retry-Count": {"0"}})); n != 1 {
		t.Errorf("a Stainless SDK's request: %d attempts, want 1 (left to the SDK)", n)
	}
	if n := len(send("/v1/chat/completions", nil, nil)); n != 3 {
		t.Errorf("another request to the same endpoint: %d attempts, want 3", n)
	}
	// A body without GetBody, buffered and replayed; each retry prepared.
	sent := send("/", io.MultiReader(strings.NewReader(`{"TableName":"t"}`)), http.Header{"Amz-Sdk-Request": {"attempt=1"}})
	want := []seen{{"/", `{"TableName":"t"}`, "attempt=1"}, {"/", `{"TableName":"t"}`, "attempt=2"}, {"/", `{"TableName":"t"}`, "attempt=3"}}
	if !slices.Equal(sent, want) {
		t.Errorf("buffered request sent %v, want %v", sent, want)
	}
	if !slices.Equal(gaveUp, []errclass.StopReason{errclass.StopAttemptsExhausted}) {
		t.Errorf("Retry.Observer heard give-ups %v, want [attempts_exhausted]", gaveUp)
	}
}

// giveUpRecorder records the reasons retries stopped.
type giveUpRecorder struct{ reasons *[]errclass.StopReason }

func (giveUpRecorder) Retrying(errclass.Outcome, errclass.Attempt) {}
func (g giveUpRecorder) GaveUp(_ errclass.Outcome, _ int, reason errclass.StopReason) {
	*g.reasons = append(*g.reasons, reason)
}

// TestLimitReachesStack guards issue 16 item 3 from a policy file to the
// stack: a "limit" of 1 holds a second request until the first body is
// closed (a limit.wait event and the wait histogram), refuses a third
// with a *limit.Error after max_wait (a limit.refused event and the
// refusal counter), without retrying it; with refusals_as_503 the
// refusal is a 503 naming the "limit" layer. Mutation caught: the layer
// not built, hooks not wired to tracing, or the refusal not named.
func TestLimitReachesStack(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"default": {"limit": {"max": 1, "max_wait": "50ms"}, "attempt_timeout": "none", "timeout": "none"}}`))
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	cfg.Tracing = tracing.Config{TracerProvider: tp, MeterProvider: mp}
	var sent atomic.Int64
	base := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
	})
	s, err := NewStack(base, cfg)
	if err != nil {
		t.Fatal(err)
	}
	do := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, "https://api.test/v1/items", nil)
		return s.RoundTrip(req)
	}
	first, err := do()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		resp *http.Response
		err  error
	}
	second := make(chan result)
	go func() {
		resp, err := do()
		second <- result{resp, err}
	}()
	time.Sleep(10 * time.Millisecond) // let it queue
	first.Body.Close()
	r2 := <-second
	if r2.err != nil {
		t.Fatalf("second request: %v, want it sent once the first body closed", r2.err)
	}
	_, err = do() // r2's body is open: no slot
	var le *limit.Error
	if !errors.As(err, &le) || le.Key != "https://api.test" {
		t.Fatalf("third request: error = %v, want a *limit.Error for https://api.test", err)
	}
	if n := sent.Load(); n != 2 {
		t.Errorf("sent %d requests, want 2 (the refusal neither sent nor retried)", n)
	}
	r2.resp.Body.Close() // ends its attempt span

	events := map[string]int{}
	for _, sp := range spans.Ended() {
		for _, e := range sp.Events() {
			if strings.HasPrefix(e.Name, "limit.") && sp.SpanKind().String() == "client" {
				events[e.Name]++
			}
		}
	}
	if events["limit.wait"] != 1 || events["limit.refused"] != 1 {
		t.Errorf("attempt span events = %v, want 1 limit.wait and 1 limit.refused", events)
	}
	waits, refusals := waitsAndRefusals(t, reader, "limit", "https://api.test")
	if waits != 1 || refusals != 1 {
		t.Errorf("resilient.limit.wait.duration count = %d, resilient.limit.refusals = %d; want 1 and 1", waits, refusals)
	}

	// As a 503, for SDKs that retry errors with sleeps.
	cfg.Default.RefusalsAs503 = true
	cfg.Default.Limit.MaxWait = -1
	s, err = NewStack(base, cfg)
	if err != nil {
		t.Fatal(err)
	}
	held, err := do()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Body.Close()
	resp, err := do()
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(errclass.RefusedHeader) != "limit" {
		t.Fatalf("refusal as 503: %v, %v, want a 503 marked %q", resp, err, "limit")
	}
	resp.Body.Close()
}
