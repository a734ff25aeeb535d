package transport

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
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
	e := cfg.Endpoints["POST /v1/enhancements"]
	// Overridden fields, and inherited ones.
	if e.Retry.MaxAttempts != 4 || e.Retry.MaxRetryAfter != time.Minute || e.AttemptTimeout != 30*time.Second ||
		e.Retry.BaseDelay != 100*time.Millisecond || e.Timeout != time.Minute || e.Retry.Budget == nil {
		t.Errorf("POST /v1/enhancements = %+v", e)
	}
	if !reflect.ValueOf(e.Breaker).IsZero() {
		t.Errorf("an endpoint without \"breaker\" must share the default's breakers, got %+v", e.Breaker)
	}
	if l := cfg.Endpoints["POST /v1/lists"]; !l.Retry.RequireIdempotencyKey || l.Retry.MaxAttempts != 3 {
		t.Errorf("POST /v1/lists = %+v", l.Retry)
	}
	if x := cfg.Endpoints["/v1/exports/"]; !x.NoRetry || x.Breaker.ConsecutiveFailures != 3 || x.Breaker.OpenTimeout != 30*time.Second || x.AttemptTimeout != 0 {
		t.Errorf("/v1/exports/ = %+v (its breaker starts from the default's settings)", x)
	}
	if got := cfg.Endpoints["DELETE /v1/lists/{id}"].RetryStatuses; len(got) != 1 || got[0] != 409 {
		t.Errorf("retry_statuses = %v", got)
	}
	if _, err := NewStack(nil, cfg); err != nil {
		t.Errorf("NewStack(partner policies) error = %v", err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, json, field, msg string
	}{
		{"not JSON", `{`, "", "want a JSON object"},
		{"top-level unknown", `{"defaults": {}}`, "defaults", "unknown field"},
		{"unknown policy field", `{"default": {"retries": {}}}`, "default.retries", "unknown field"},
		{"unknown retry field", `{"default": {"retry": {"max_atempts": 3}}}`, "default.retry.max_atempts", "known: base_delay"},
		{"bad duration", `{"default": {"retry": {"base_delay": "fast"}}}`, "default.retry.base_delay", `invalid duration "fast"`},
		{"number for duration", `{"default": {"attempt_timeout": 5}}`, "default.attempt_timeout", "want a duration string"},
		{"negative duration", `{"default": {"timeout": "-1s"}}`, "default.timeout", "negative duration"},
		{"attempts out of range", `{"default": {"retry": {"max_attempts": 0}}}`, "default.retry.max_attempts", "out of range"},
		{"ratio out of range", `{"default": {"breaker": {"failure_ratio": 1.5}}}`, "default.breaker.failure_ratio", "out of range"},
		{"bad status", `{"default": {"retry_statuses": [42]}}`, "default.retry_statuses", "not an HTTP status code"},
		{"bool as string", `{"default": {"no_retry": "yes"}}`, "default.no_retry", "want true or false"},
		{"budget window", `{"default": {"retry": {"budget": {"window": "0s"}}}}`, "default.retry.budget.window", "must be positive"},
		{"unknown endpoint field", `{"endpoints": {"GET /x": {"retry": {"max_attempts": 2, "jitter": 1}}}}`, `endpoints["GET /x"].retry.jitter`, "unknown field"},
		{"bad pattern", `{"endpoints": {"GET /v1/{id": {}}}`, `endpoints["GET /v1/{id"]`, "endpoint pattern"},
		{"conflicting patterns", `{"endpoints": {"GET /a/{x}": {}, "GET /a/{y}": {}}}`, `endpoints["GET /a/{y}"]`, "conflicts"},
		{"policy not an object", `{"default": []}`, "default", "want a JSON object"},
	}
	for _, tc := range tests {
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
