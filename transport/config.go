package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/retry"
)

// ConfigError reports what is wrong in a policy file, and where.
type ConfigError struct {
	// Field locates the problem, e.g. `endpoints["POST /v1/enhancements"].retry.base_delay`.
	Field string
	// Err says what is wrong.
	Err error
}

// Error reports the field and the problem.
func (e *ConfigError) Error() string {
	if e.Field == "" {
		return "transport: policy file: " + e.Err.Error()
	}
	return "transport: policy file: " + e.Field + ": " + e.Err.Error()
}

// Unwrap returns the problem.
func (e *ConfigError) Unwrap() error { return e.Err }

// LoadConfig reads a policy file (see [ParseConfig]).
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("transport: policy file: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig reads a policy file: JSON with a "default" policy and
// "endpoints" mapping ServeMux patterns to policies. Durations are strings
// ("250ms", "30s"). An endpoint starts from the default policy and
// overrides what it names, except "breaker": an endpoint whose "breaker"
// sets a field gets breakers of its own (starting from the default's
// settings); one that does not shares the default's (see [Policy.Breaker]). Unknown fields, bad durations, out-of-range
// numbers and bad or conflicting patterns are errors naming the field.
//
//	{
//	  "default": {"retry": {"max_attempts": 3, "base_delay": "100ms"}, "attempt_timeout": "10s"},
//	  "endpoints": {
//	    "POST /v1/enhancements": {"retry": {"require_idempotency_key": true}, "attempt_timeout": "30s"},
//	    "GET /v1/jobs/{id}/results": {"retry": {"max_attempts": 5}, "breaker": {"consecutive_failures": 5}}
//	  }
//	}
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	var endpoints map[string]json.RawMessage
	var defaultRaw json.RawMessage
	err := decodeObject(data, "", fields{
		"default":   func(raw json.RawMessage) error { defaultRaw = raw; return nil },
		"endpoints": func(raw json.RawMessage) error { return json.Unmarshal(raw, &endpoints) },
	})
	if err != nil {
		return Config{}, err
	}
	if defaultRaw != nil {
		if err := decodePolicy(defaultRaw, "default", &cfg.Default, breaker.Policy{}); err != nil {
			return Config{}, err
		}
	}
	if len(endpoints) > 0 {
		cfg.Endpoints = make(map[string]Policy, len(endpoints))
		mux := http.NewServeMux()
		for _, pattern := range sortedKeys(endpoints) {
			path := "endpoints[" + strconv.Quote(pattern) + "]"
			if err := register(mux, pattern); err != nil {
				return Config{}, &ConfigError{Field: path, Err: errors.New(strings.TrimPrefix(err.Error(), "transport: "))}
			}
			p := cfg.Default
			p.Breaker = breaker.Policy{} // shared unless the endpoint names "breaker"
			if err := decodePolicy(endpoints[pattern], path, &p, cfg.Default.Breaker); err != nil {
				return Config{}, err
			}
			cfg.Endpoints[pattern] = p
		}
	}
	return cfg, nil
}

// decodePolicy overlays raw on p. A "breaker" object starts from
// inherited.
func decodePolicy(raw json.RawMessage, path string, p *Policy, inherited breaker.Policy) error {
	return decodeObject(raw, path, fields{
		"retry": func(raw json.RawMessage) error { return decodeRetry(raw, path+".retry", p) },
		"breaker": func(raw json.RawMessage) error {
			p.Breaker = inherited
			return decodeBreaker(raw, path+".breaker", p)
		},
		"attempt_timeout":   durationField(&p.AttemptTimeout),
		"timeout":           durationField(&p.Timeout),
		"retry_statuses":    statusesField(&p.RetryStatuses),
		"no_retry_statuses": statusesField(&p.NoRetryStatuses),
		"no_retry":          boolField(&p.NoRetry),
		"no_breaker":        boolField(&p.NoBreaker),
		"no_tracing":        boolField(&p.NoTracing),
	})
}

func decodeRetry(raw json.RawMessage, path string, p *Policy) error {
	r := &p.Retry
	return decodeObject(raw, path, fields{
		"max_attempts":            intField(&r.MaxAttempts, 1, 100),
		"base_delay":              durationField(&r.BaseDelay),
		"max_delay":               durationField(&r.MaxDelay),
		"max_elapsed":             durationField(&r.MaxElapsed),
		"max_retry_after":         durationField(&r.MaxRetryAfter),
		"require_idempotency_key": boolField(&r.RequireIdempotencyKey),
		"wait_for_breaker":        boolField(&r.WaitForBreaker),
		"budget": func(raw json.RawMessage) error {
			ratio, perSec, window := retry.DefaultBudgetRatio, float64(retry.DefaultBudgetMinPerSecond), retry.DefaultBudgetWindow
			err := decodeObject(raw, path+".budget", fields{
				"ratio":          floatField(&ratio, 0, 10),
				"min_per_second": floatField(&perSec, 0, 1e6),
				"window":         durationField(&window),
			})
			if err != nil {
				return err
			}
			if window <= 0 {
				return &ConfigError{Field: path + ".budget.window", Err: errors.New("must be positive")}
			}
			r.Budget = retry.NewBudget(ratio, perSec, window)
			return nil
		},
	})
}

func decodeBreaker(raw json.RawMessage, path string, p *Policy) error {
	b := &p.Breaker
	latch := !b.DisableCreditLatch
	err := decodeObject(raw, path, fields{
		"window":               durationField(&b.Window),
		"min_requests":         uintField(&b.MinRequests),
		"failure_ratio":        floatField(&b.FailureRatio, 0, 1),
		"consecutive_failures": uintField(&b.ConsecutiveFailures),
		"open_timeout":         durationField(&b.OpenTimeout),
		"half_open_probes":     uintField(&b.HalfOpenProbes),
		"count_rate_limited":   boolField(&b.CountRateLimited),
		"max_keys":             intField(&b.MaxKeys, 1, 1<<20),
		"credit_cooldown":      durationField(&b.CreditCooldown),
		"credit_latch":         boolField(&latch),
	})
	b.DisableCreditLatch = !latch
	return err
}

// fields maps the names an object may hold to their decoders.
type fields map[string]func(json.RawMessage) error

// decodeObject decodes a JSON object field by field, rejecting unknown
// names and reporting errors with their path.
func decodeObject(raw json.RawMessage, path string, fs fields) error {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil || m == nil {
		if err == nil {
			err = errors.New("got null")
		}
		return &ConfigError{Field: path, Err: fmt.Errorf("want a JSON object: %w", err)}
	}
	for _, name := range sortedKeys(m) {
		field := name
		if path != "" {
			field = path + "." + name
		}
		f, ok := fs[name]
		if !ok {
			return &ConfigError{Field: field, Err: fmt.Errorf("unknown field (known: %s)", strings.Join(sortedKeys(fs), ", "))}
		}
		if err := f(m[name]); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				return err
			}
			return &ConfigError{Field: field, Err: err}
		}
	}
	return nil
}

func durationField(dst *time.Duration) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("want a duration string such as \"250ms\", got %s", raw)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q", s)
		}
		if d < 0 {
			return fmt.Errorf("negative duration %q", s)
		}
		*dst = d
		return nil
	}
}

func intField(dst *int, lo, hi int) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil {
			return fmt.Errorf("want an integer, got %s", raw)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
		}
		*dst = n
		return nil
	}
}

func uintField(dst *uint32) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil {
			return fmt.Errorf("want an integer, got %s", raw)
		}
		if n < 1 || n > 1<<20 {
			return fmt.Errorf("%d is out of range [1, %d]", n, 1<<20)
		}
		*dst = uint32(n)
		return nil
	}
}

func floatField(dst *float64, lo, hi float64) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return fmt.Errorf("want a number, got %s", raw)
		}
		if f < lo || f > hi {
			return fmt.Errorf("%v is out of range [%v, %v]", f, lo, hi)
		}
		*dst = f
		return nil
	}
}

func boolField(dst *bool) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("want true or false, got %s", raw)
		}
		return nil
	}
}

func statusesField(dst *[]int) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var codes []int
		if err := json.Unmarshal(raw, &codes); err != nil {
			return fmt.Errorf("want a list of status codes, got %s", raw)
		}
		for _, c := range codes {
			if c < 100 || c > 599 {
				return fmt.Errorf("%d is not an HTTP status code", c)
			}
		}
		*dst = codes
		return nil
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
