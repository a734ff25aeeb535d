package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/credits"
	"github.com/resilient-http/resilient/transport/limit"
	"github.com/resilient-http/resilient/transport/pacing"
	"github.com/resilient-http/resilient/transport/retry"
)

// ConfigError reports what is wrong in a policy file, and where.
type ConfigError struct {
	// Field locates the problem, e.g. `endpoints["POST /v1/enhancements"].retry.base_delay`,
	// or, for text after the top-level object, its byte offset ("offset 120").
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

// ParseConfig reads a policy file: one JSON object with a "default" policy
// and "endpoints" mapping ServeMux patterns to policies. Durations are
// strings ("250ms", "30s"); "0s" means the default, and the timeouts
// (attempt_timeout, timeout, body_idle_timeout) also take "none", which is
// [NoTimeout]. Sizes (retry.buffer_body) are a number of bytes or a
// string in B, KiB, MiB or GiB ("64KiB"); retry.sdk_retries is "none",
// "stainless" or "always" (see [retry.SDKRetriesMode]); retry.hedge is
// {"delay": duration, "quantile": 0 to 1, "max": 1 to 10} (see
// [retry.HedgePolicy]), overlaid field by field. An endpoint
// starts from the default policy and overrides
// what it names, except "breaker" and the retry "budget": an endpoint that
// names one gets breakers (or a budget) of its own, starting from the
// default's settings; one that does not shares the default's (see
// [Policy.Breaker] and [retry.Policy.Budget]). A "budget" comes back
// with its three fields explicit, the defaults filled in.
//
// A Config holds no live state: the [Stack] builds breakers, budgets and
// latches, so two clients built from one Config share none of them.
//
// Each policy's time bounds come back explicit, and consistent: the
// longest Retry-After honoured (retry.max_retry_after), the time retries
// may take (retry.max_elapsed) and the total timeout, in that order, each
// fit in the next. Values left out follow those set ("max_retry_after":
// "60s" alone raises the other two to 60s; "timeout": "10s" alone lowers
// them to 10s); two set values out of order are an error naming both. An
// endpoint's inherited values count as set.
//
// "route_header" names the header that routes requests to endpoints by
// name (see [Config.RouteHeader]): an endpoint key without "/" is such a
// name, and needs it. "pacing" configures the pacing layer ("max_wait",
// "scope", "rate", "burst", "max_keys"; see [Policy.Pacing]) and
// "no_pacing" turns it off; "limit" configures the concurrency
// limit ("max", "max_wait", "scope", "adaptive", "min_limit", "max_keys";
// see [Policy.Limit]); "refusals_as_503" is [Policy.RefusalsAs503];
// "idempotency_key" is [Policy.IdempotencyKey].
//
// Unknown fields, duplicate names, text after the object, bad durations,
// out-of-range numbers and bad or conflicting patterns are errors too: a
// [*ConfigError] naming the field.
//
//	{
//	  "default": {"retry": {"max_attempts": 3, "base_delay": "100ms"}, "attempt_timeout": "10s"},
//	  "endpoints": {
//	    "POST /v1/enhancements": {"retry": {"require_idempotency_key": true}, "attempt_timeout": "30s"},
//	    "GET /v1/jobs/{id}/results": {"retry": {"max_attempts": 5}, "breaker": {"consecutive_failures": 5}},
//	    "/v1/exports/": {"timeout": "5m", "attempt_timeout": "none"}
//	  }
//	}
func ParseConfig(data []byte) (Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var top json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return Config{}, &ConfigError{Err: fmt.Errorf("want a JSON object: %w", err)}
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return Config{}, &ConfigError{
			Field: "offset " + strconv.Itoa(len(data)-len(rest)),
			Err:   errors.New("text after the top-level object"),
		}
	}
	var defaultRaw json.RawMessage
	var routeHeader string
	endpoints := map[string]json.RawMessage{}
	err := decodeObject(top, "", fields{
		"default": func(raw json.RawMessage) error { defaultRaw = raw; return nil },
		"route_header": func(raw json.RawMessage) error {
			if err := json.Unmarshal(raw, &routeHeader); err != nil {
				return fmt.Errorf(`want a header name such as "X-Amz-Target", got %s`, raw)
			}
			return checkRouteHeader(routeHeader)
		},
		"endpoints": func(raw json.RawMessage) error {
			return walkObject(raw, "endpoints", endpointPath, func(pattern, _ string, raw json.RawMessage) error {
				endpoints[pattern] = raw
				return nil
			})
		},
	})
	if err != nil {
		return Config{}, err
	}

	// Endpoints inherit what the default sets, not what resolve fills in:
	// the values implied by the default's own must not count as set.
	var def Policy
	if defaultRaw != nil {
		if err := decodePolicy(defaultRaw, "default", &def, Policy{}, &origins{}); err != nil {
			return Config{}, err
		}
	}
	cfg := Config{RouteHeader: routeHeader}
	if cfg.Default, err = def.resolve("default"); err != nil {
		return Config{}, err
	}
	if len(endpoints) == 0 {
		return cfg, nil
	}
	cfg.Endpoints = make(map[string]Policy, len(endpoints))
	mux := http.NewServeMux()
	for _, pattern := range sortedKeys(endpoints) {
		path := endpointPath("endpoints", pattern)
		if isRouteName(pattern) {
			if err := checkRouteName(pattern, routeHeader != ""); err != nil {
				return Config{}, &ConfigError{Field: path, Err: err}
			}
		} else if err := register(mux, pattern); err != nil {
			return Config{}, &ConfigError{Field: path, Err: err}
		}
		p := def
		// Shared unless the endpoint names "breaker" or "budget".
		p.Breaker = breaker.Policy{}
		p.Retry.Budget = retry.BudgetPolicy{}
		from := origins{maxRetryAfter: "default", maxElapsed: "default", timeout: "default"}
		if err := decodePolicy(endpoints[pattern], path, &p, def, &from); err != nil {
			return Config{}, err
		}
		if p, err = p.resolveFrom(from, path); err != nil {
			return Config{}, err
		}
		cfg.Endpoints[pattern] = p
	}
	return cfg, nil
}

// UnmarshalJSON reads a policy file into c, as [ParseConfig] does, so that
// what [Config.MarshalJSON] writes, json.Unmarshal reads back. It keeps
// c.Tracing and c.Route, which no file holds.
func (c *Config) UnmarshalJSON(data []byte) error {
	cfg, err := ParseConfig(data)
	if err != nil {
		return err
	}
	cfg.Tracing, cfg.Route = c.Tracing, c.Route
	*c = cfg
	return nil
}

func endpointPath(path, pattern string) string { return path + "[" + strconv.Quote(pattern) + "]" }

func memberPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// decodePolicy overlays raw on p. A "breaker" or "budget" object starts
// from inherited's (the default policy, for an endpoint). from records path
// as the origin of the time bounds raw sets.
func decodePolicy(raw json.RawMessage, path string, p *Policy, inherited Policy, from *origins) error {
	return decodeObject(raw, path, fields{
		"retry": func(raw json.RawMessage) error {
			return decodeRetry(raw, path, p, inherited.Retry.Budget, from)
		},
		"breaker": func(raw json.RawMessage) error {
			p.Breaker = inherited.Breaker
			if err := decodeBreaker(raw, path+".breaker", p); err != nil {
				return err
			}
			if path != "default" && reflect.ValueOf(p.Breaker).IsZero() {
				// An endpoint that names "breaker" gets breakers of its
				// own, even if what it names sets every field back to its
				// default: spell the defaults out, so that the policy is
				// not the zero one that means "share the default's".
				explicitBreaker(&p.Breaker)
			}
			return nil
		},
		"credits":           func(raw json.RawMessage) error { return decodeCredits(raw, path+".credits", &p.Credits) },
		"pacing":            func(raw json.RawMessage) error { return decodePacing(raw, path+".pacing", &p.Pacing) },
		"limit":             func(raw json.RawMessage) error { return decodeLimit(raw, path+".limit", &p.Limit) },
		"attempt_timeout":   timeoutField(&p.AttemptTimeout),
		"timeout":           setBy(&from.timeout, path, timeoutField(&p.Timeout)),
		"body_idle_timeout": timeoutField(&p.BodyIdleTimeout),
		"retry_statuses":    statusesField(&p.RetryStatuses),
		"no_retry_statuses": statusesField(&p.NoRetryStatuses),
		"no_retry":          boolField(&p.NoRetry),
		"no_breaker":        boolField(&p.NoBreaker),
		"no_tracing":        boolField(&p.NoTracing),
		"no_pacing":         boolField(&p.NoPacing),
		"refusals_as_503":   boolField(&p.RefusalsAs503),
		"idempotency_key":   boolField(&p.IdempotencyKey),
	})
}

// checkRouteName rejects a route name (an endpoint key without "/") that
// nothing could route a request to: the empty one, or any when no
// route header is set.
func checkRouteName(name string, routing bool) error {
	switch {
	case name == "":
		return errors.New(`an empty endpoint key is neither a pattern nor a route name`)
	case !routing:
		return errNameWithoutRouting
	}
	return nil
}

// decodePacing overlays a "pacing" object on pp: {"max_wait": duration or
// "never", "scope": "host" or "route", "max_window": duration, "rate":
// requests a second, "burst": int, "max_keys": int}.
func decodePacing(raw json.RawMessage, path string, pp *pacing.Policy) error {
	return decodeObject(raw, path, fields{
		"max_wait":   waitField(&pp.MaxWait),
		"scope":      scopeField(&pp.Scope),
		"max_window": durationField(&pp.MaxWindow),
		"rate":       numberField(&pp.Rate, 0, 1e6),
		"burst":      numberField(&pp.Burst, 0, 1<<20),
		"max_keys":   numberField(&pp.MaxKeys, 1, 1<<20),
	})
}

// decodeLimit overlays a "limit" object on lp: {"max": int (0 is off),
// "max_wait": duration or "never", "scope": "host" or "route",
// "adaptive": bool, "min_limit": int, "max_keys": int}.
func decodeLimit(raw json.RawMessage, path string, lp *limit.Policy) error {
	return decodeObject(raw, path, fields{
		"max":       numberField(&lp.Max, 0, 1<<20),
		"max_wait":  waitField(&lp.MaxWait),
		"scope":     scopeField(&lp.Scope),
		"adaptive":  boolField(&lp.Adaptive),
		"min_limit": numberField(&lp.MinLimit, 0, 1<<20),
		"max_keys":  numberField(&lp.MaxKeys, 1, 1<<20),
	})
}

// waitField decodes a queue or window wait: a duration, or "never" (-1:
// refuse rather than wait), as pacing's and limit's MaxWait spell it.
func waitField(dst *time.Duration) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		if string(raw) == `"never"` {
			*dst = -1
			return nil
		}
		return decodeDuration(raw, dst, false)
	}
}

// scopeField decodes "host" or "route" into a layer's Scope type (pacing's
// and limit's have the same two values).
func scopeField[S ~string](dst *S) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var v string
		if json.Unmarshal(raw, &v) != nil || (v != "host" && v != "route") {
			return fmt.Errorf(`want "host" or "route", got %s`, raw)
		}
		*dst = S(v)
		return nil
	}
}

// decodeRetry overlays the "retry" object raw of the policy at path on p.
// A "budget" object starts from inherited, with its defaults spelled out.
func decodeRetry(raw json.RawMessage, policyPath string, p *Policy, inherited retry.BudgetPolicy, from *origins) error {
	r, path := &p.Retry, policyPath+".retry"
	return decodeObject(raw, path, fields{
		"max_attempts":            numberField(&r.MaxAttempts, 1, 100),
		"base_delay":              durationField(&r.BaseDelay),
		"max_delay":               durationField(&r.MaxDelay),
		"max_elapsed":             setBy(&from.maxElapsed, policyPath, durationField(&r.MaxElapsed)),
		"max_retry_after":         setBy(&from.maxRetryAfter, policyPath, durationField(&r.MaxRetryAfter)),
		"require_idempotency_key": boolField(&r.RequireIdempotencyKey),
		"wait_for_breaker":        boolField(&r.WaitForBreaker),
		"sdk_retries":             sdkRetriesField(&r.SDKRetriesMode),
		"buffer_body":             sizeField(&r.BufferBody, maxBufferBody),
		"hedge": func(raw json.RawMessage) error {
			// Overlays the inherited hedge field by field, as "retry" does.
			h := &r.Hedge
			return decodeObject(raw, path+".hedge", fields{
				"delay":    durationField(&h.Delay),
				"quantile": numberField(&h.Quantile, 0, 1),
				"max":      numberField(&h.Max, 1, maxHedges),
			})
		},
		"budget": func(raw json.RawMessage) error {
			// Spelled out, so that a policy that names "budget" never holds
			// the zero Retry.Budget, which means "share the default's".
			b := explicitBudget(inherited)
			err := decodeObject(raw, path+".budget", fields{
				"ratio":          numberField(&b.Ratio, 0, 10),
				"min_per_second": numberField(&b.MinPerSecond, 0, 1e6),
				"window":         durationField(&b.Window),
			})
			if err != nil {
				return err
			}
			if b.Window <= 0 {
				return &ConfigError{Field: path + ".budget.window", Err: errors.New("must be positive")}
			}
			r.Budget = b
			return nil
		},
	})
}

func decodeBreaker(raw json.RawMessage, path string, p *Policy) error {
	b := &p.Breaker
	return decodeObject(raw, path, fields{
		"window":               durationField(&b.Window),
		"min_requests":         numberField(&b.MinRequests, 1, 1<<20),
		"failure_ratio":        numberField(&b.FailureRatio, 0, 1),
		"consecutive_failures": numberField(&b.ConsecutiveFailures, 1, 1<<20),
		"open_timeout":         durationField(&b.OpenTimeout),
		"half_open_probes":     numberField(&b.HalfOpenProbes, 1, 1<<20),
		"count_rate_limited":   boolField(&b.CountRateLimited),
		"max_keys":             numberField(&b.MaxKeys, 1, 1<<20),
		"probe_timeout":        durationField(&b.ProbeTimeout),
	})
}

// decodeCredits overlays a "credits" object, {"enabled": bool, "cooldown":
// duration, "max_keys": int, "remaining_header": header name,
// "remaining_field": dotted path}, on c. An empty name or path turns the
// signal off (an endpoint's way to drop the default's).
func decodeCredits(raw json.RawMessage, path string, c *Credits) error {
	text := func(dst *string, valid func(string) bool, want string) func(json.RawMessage) error {
		return func(raw json.RawMessage) error {
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("want %s, got %s", want, raw)
			}
			if v != "" && !valid(v) {
				return fmt.Errorf("want %s, got %q", want, v)
			}
			*dst = v
			return nil
		}
	}
	header := func(v string) bool { // an RFC 9110 token
		return !strings.ContainsFunc(v, func(r rune) bool {
			return r > '~' || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
		})
	}
	field := func(v string) bool { return !slices.Contains(strings.Split(v, "."), "") }
	return decodeObject(raw, path, fields{
		"enabled":          boolField(&c.Enabled),
		"cooldown":         durationField(&c.Cooldown),
		"max_keys":         numberField(&c.MaxKeys, 1, 1<<20),
		"remaining_header": text(&c.RemainingHeader, header, `a header name such as "X-Credits-Remaining"`),
		"remaining_field":  text(&c.RemainingField, field, `a dotted path such as "meta.imports_remaining"`),
	})
}

// setBy wraps decode so that a field found records path as its origin.
func setBy(origin *string, path string, decode func(json.RawMessage) error) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		*origin = path
		return decode(raw)
	}
}

// explicitBudget returns b, or for the zero BudgetPolicy (the defaults)
// the values it stands for.
func explicitBudget(b retry.BudgetPolicy) retry.BudgetPolicy {
	if b == (retry.BudgetPolicy{}) {
		return retry.BudgetPolicy{Ratio: retry.DefaultBudgetRatio, MinPerSecond: retry.DefaultBudgetMinPerSecond, Window: retry.DefaultBudgetWindow}
	}
	if b.Window <= 0 { // as NewBudget reads it
		b.Window = retry.DefaultBudgetWindow
	}
	return b
}

// explicitBreaker fills b's zero fields with the breaker package's
// defaults (the values they stand for), so that b is not the zero Policy.
func explicitBreaker(b *breaker.Policy) {
	fill := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	fill(&b.Window, breaker.DefaultWindow)
	fill(&b.OpenTimeout, breaker.DefaultOpenTimeout)
	fill(&b.ProbeTimeout, breaker.DefaultProbeTimeout)
	if b.MinRequests == 0 {
		b.MinRequests = breaker.DefaultMinRequests
	}
	if b.FailureRatio <= 0 {
		b.FailureRatio = breaker.DefaultFailureRatio
	}
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = breaker.DefaultConsecutiveFailures
	}
	if b.HalfOpenProbes == 0 {
		b.HalfOpenProbes = breaker.DefaultHalfOpenProbes
	}
	if b.MaxKeys <= 0 {
		b.MaxKeys = breaker.DefaultMaxKeys
	}
}

// fields maps the names an object may hold to their decoders.
type fields map[string]func(json.RawMessage) error

// decodeObject decodes a JSON object member by member, in order, rejecting
// unknown, duplicate and null members, and reporting errors with their
// path.
func decodeObject(raw json.RawMessage, path string, fs fields) error {
	return walkObject(raw, path, memberPath, func(name, field string, value json.RawMessage) error {
		f, ok := fs[name]
		if !ok {
			return &ConfigError{Field: field, Err: fmt.Errorf("unknown field (known: %s)", strings.Join(sortedKeys(fs), ", "))}
		}
		if string(value) == "null" {
			// Every field has a zero value to leave it out for; null would
			// otherwise mean zero for some decoders and an error for others.
			return &ConfigError{Field: field, Err: errors.New("got null (leave the field out for its default)")}
		}
		if err := f(value); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				return err
			}
			return &ConfigError{Field: field, Err: err}
		}
		return nil
	})
}

// walkObject calls f with each member of the JSON object raw, in order,
// and the member's path (memberPath(path, name) or the like). It rejects
// anything but an object, and a name seen before in the same object:
// encoding/json would keep the last silently.
func walkObject(raw json.RawMessage, path string, pathOf func(path, name string) string, f func(name, field string, value json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return &ConfigError{Field: path, Err: fmt.Errorf("want a JSON object, got %s", jsonKind(raw))}
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return &ConfigError{Field: path, Err: err}
		}
		name, _ := tok.(string) // in an object, always a string
		field := pathOf(path, name)
		if seen[name] {
			return &ConfigError{Field: field, Err: errors.New("duplicate name: the object names it before")}
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return &ConfigError{Field: field, Err: err}
		}
		if err := f(name, field, value); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return &ConfigError{Field: path, Err: err}
	}
	return nil
}

// jsonKind names the kind of JSON value raw holds.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// durationField decodes a duration string such as "250ms".
func durationField(dst *time.Duration) func(json.RawMessage) error {
	return func(raw json.RawMessage) error { return decodeDuration(raw, dst, false) }
}

// timeoutField decodes a duration string, or "none" for [NoTimeout].
func timeoutField(dst *time.Duration) func(json.RawMessage) error {
	return func(raw json.RawMessage) error { return decodeDuration(raw, dst, true) }
}

func decodeDuration(raw json.RawMessage, dst *time.Duration, timeout bool) error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"250ms\", got %s", raw)
	}
	if s == "none" {
		if !timeout {
			return errors.New(`"none" turns a timeout off; this field is not one (attempt_timeout, timeout and body_idle_timeout are)`)
		}
		*dst = NoTimeout
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	if d < 0 {
		if timeout {
			return fmt.Errorf("negative duration %q (\"none\" turns the timeout off)", s)
		}
		return fmt.Errorf("negative duration %q", s)
	}
	*dst = d
	return nil
}

// numberField decodes a number in [lo, hi]: an integer for the integer
// types, checked against the range before it is converted.
func numberField[T int | uint32 | float64](dst *T, lo, hi T) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var n T
		if f, ok := any(&n).(*float64); ok {
			if err := json.Unmarshal(raw, f); err != nil {
				return fmt.Errorf("want a number, got %s", raw)
			}
		} else {
			var i int64
			if err := json.Unmarshal(raw, &i); err != nil {
				return fmt.Errorf("want an integer, got %s", raw)
			}
			if i < int64(lo) || i > int64(hi) {
				return fmt.Errorf("%d is out of range [%v, %v]", i, lo, hi)
			}
			n = T(i)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%v is out of range [%v, %v]", n, lo, hi)
		}
		*dst = n
		return nil
	}
}

// maxHedges bounds retry.hedge.max in a policy file.
const maxHedges = 10

// maxBufferBody bounds retry.buffer_body in a policy file: a body held
// in memory per request, for its retries, should be small.
const maxBufferBody = 1 << 30

// sizeUnits are the units a size may be written in, largest first.
var sizeUnits = [...]struct {
	name string
	n    int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// sizeField decodes a size in bytes in [0, hi]: a number of bytes, or a
// string such as "64KiB" (units B, KiB, MiB, GiB; a string of digits
// alone counts bytes).
func sizeField(dst *int64, hi int64) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return fmt.Errorf(`want a size such as "64KiB" or a number of bytes, got %s`, raw)
			}
			if n, err = parseSize(s, hi); err != nil {
				return err
			}
		}
		if n < 0 || n > hi {
			return fmt.Errorf("%d bytes is out of range [0, %d]", n, hi)
		}
		*dst = n
		return nil
	}
}

// parseSize reads a size string such as "64KiB" of at most hi bytes.
func parseSize(s string, hi int64) (int64, error) {
	digits := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := s[len(digits):]
	if digits == "" || strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, fmt.Errorf(`want a size such as "64KiB" or a number of bytes, got %q`, s)
	}
	mult := int64(0)
	if unit == "" {
		mult = 1
	}
	for _, u := range sizeUnits {
		if unit == u.name {
			mult = u.n
		}
	}
	if mult == 0 {
		return 0, fmt.Errorf("unknown unit %q in %q (want B, KiB, MiB or GiB)", unit, s)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > hi/mult {
		return 0, fmt.Errorf("%q is out of range [0, %d bytes]", s, hi)
	}
	return n * mult, nil
}

// sdkRetriesField decodes retry.sdk_retries: "none", "stainless" or
// "always".
func sdkRetriesField(dst *retry.SDKRetriesMode) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf(`want "none", "stainless" or "always", got %s`, raw)
		}
		switch m := retry.SDKRetriesMode(s); m {
		case retry.SDKStainless, retry.SDKAlways:
			*dst = m
		case "none":
			*dst = retry.SDKNone
		default:
			return fmt.Errorf(`want "none", "stainless" or "always", got %q`, s)
		}
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
		if len(codes) == 0 {
			codes = nil // [] reads back as what it writes: no codes
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

// MarshalJSON writes c as a policy file that [ParseConfig] reads back:
// durations as strings, [NoTimeout] as "none", zero fields left out, and
// each endpoint as what it changes from the default (so an endpoint that
// shares the default's breakers has no "breaker").
//
// A Config that ParseConfig returned reads back equal, but for what no
// file holds: the code-only hooks (classifiers, Backoff, Key,
// OnStateChange, OnLatch, SDKRetries, PrepareRetry, Observer, pacing's
// Key, Route, OnWait and OnRefuse, limit's Route, Classifier, OnWait and
// OnRefuse, Config.Route, Tracing)
// and live state (a retry.Policy.SharedBudget
// given to share one budget; its Budget is what files hold). A
// Config built in code reads back as a Stack would run it: a negative
// duration that is not a timeout, which means the default, is written as
// "0s", an endpoint's zero count that a file cannot hold (max_attempts,
// the breaker's counts) as the default it stands for, and a budget with
// its three fields (a negative ratio or floor as 0, a window of zero or
// less as the default), a negative retry.BufferBody as 0 (off), a
// size in the largest unit that holds it exactly ("64KiB"), a negative
// Pacing.MaxWait (or Limit.MaxWait) as "never" and an empty Pacing.Scope
// (or Limit.Scope) as "host". Values out of
// a file's ranges (an SDKRetriesMode that is none of retry's constants)
// are written as they are, for ParseConfig to reject.
func (c Config) MarshalJSON() ([]byte, error) {
	var o object
	if c.RouteHeader != "" {
		o.addValue("route_header", c.RouteHeader)
	}
	if def := encodePolicy(c.Default, Policy{}); !def.isEmpty() {
		o.addObject("default", def)
	}
	if len(c.Endpoints) > 0 {
		var eps object
		for _, pattern := range sortedKeys(c.Endpoints) {
			eps.addObjectAt(pattern, endpointPath("", pattern), encodePolicy(c.Endpoints[pattern], c.Default))
		}
		o.addObject("endpoints", &eps)
	}
	if o.err != nil {
		return nil, fmt.Errorf("transport: writing a policy file: %s: %w", o.errField, o.err)
	}
	return o.bytes(), nil
}

// encodePolicy writes the fields of p that differ from base's: for the
// default policy, base is the zero Policy; for an endpoint, the default,
// which ParseConfig starts it from.
func encodePolicy(p, base Policy) *object {
	var o object
	if r := encodeRetry(p.Retry, base.Retry); !r.isEmpty() {
		o.addObject("retry", r)
	}
	if !reflect.ValueOf(p.Breaker).IsZero() {
		o.addObject("breaker", encodeBreaker(p.Breaker, base.Breaker))
	}
	if c := encodeCredits(p.Credits, base.Credits); !c.isEmpty() {
		o.addObject("credits", c)
	}
	if pc := encodePacing(p.Pacing, base.Pacing); !pc.isEmpty() {
		o.addObject("pacing", pc)
	}
	if lc := encodeLimit(p.Limit, base.Limit); !lc.isEmpty() {
		o.addObject("limit", lc)
	}
	o.timeout("attempt_timeout", p.AttemptTimeout, base.AttemptTimeout)
	o.timeout("timeout", p.Timeout, base.Timeout)
	o.timeout("body_idle_timeout", p.BodyIdleTimeout, base.BodyIdleTimeout)
	o.statuses("retry_statuses", p.RetryStatuses, base.RetryStatuses)
	o.statuses("no_retry_statuses", p.NoRetryStatuses, base.NoRetryStatuses)
	o.bool("no_retry", p.NoRetry, base.NoRetry)
	o.bool("no_breaker", p.NoBreaker, base.NoBreaker)
	o.bool("no_tracing", p.NoTracing, base.NoTracing)
	o.bool("no_pacing", p.NoPacing, base.NoPacing)
	o.bool("refusals_as_503", p.RefusalsAs503, base.RefusalsAs503)
	o.bool("idempotency_key", p.IdempotencyKey, base.IdempotencyKey)
	return &o
}

// encodePacing writes a "pacing" object: a negative MaxWait as "never", an
// empty Scope as "host" (what it means), a negative Rate or Burst as 0.
func encodePacing(pp, base pacing.Policy) *object {
	var o object
	o.wait("max_wait", pp.MaxWait, base.MaxWait)
	o.scope("scope", string(pp.Scope), string(base.Scope))
	if w, bw := max(pp.MaxWindow, 0), max(base.MaxWindow, 0); w != bw {
		o.addValue("max_window", w.String())
	}
	o.float("rate", pp.Rate, base.Rate)
	if n, bn := max(pp.Burst, 0), max(base.Burst, 0); n != bn {
		o.addValue("burst", n)
	}
	o.count("max_keys", pp.MaxKeys, base.MaxKeys, pacing.DefaultMaxKeys)
	return &o
}

// encodeLimit writes a "limit" object: a negative Max or MinLimit as 0, a
// negative MaxWait as "never", an empty Scope as "host" (what it means).
func encodeLimit(lp, base limit.Policy) *object {
	var o object
	if n, bn := max(lp.Max, 0), max(base.Max, 0); n != bn {
		o.addValue("max", n)
	}
	o.wait("max_wait", lp.MaxWait, base.MaxWait)
	o.scope("scope", string(lp.Scope), string(base.Scope))
	o.bool("adaptive", lp.Adaptive, base.Adaptive)
	if n, bn := max(lp.MinLimit, 0), max(base.MinLimit, 0); n != bn {
		o.addValue("min_limit", n)
	}
	o.count("max_keys", lp.MaxKeys, base.MaxKeys, limit.DefaultMaxKeys)
	return &o
}

func encodeRetry(r, base retry.Policy) *object {
	var o object
	o.count("max_attempts", r.MaxAttempts, base.MaxAttempts, retry.DefaultMaxAttempts)
	o.duration("base_delay", r.BaseDelay, base.BaseDelay)
	o.duration("max_delay", r.MaxDelay, base.MaxDelay)
	o.duration("max_elapsed", r.MaxElapsed, base.MaxElapsed)
	o.duration("max_retry_after", r.MaxRetryAfter, base.MaxRetryAfter)
	o.bool("require_idempotency_key", r.RequireIdempotencyKey, base.RequireIdempotencyKey)
	o.bool("wait_for_breaker", r.WaitForBreaker, base.WaitForBreaker)
	if r.SDKRetriesMode != base.SDKRetriesMode {
		mode := string(r.SDKRetriesMode)
		if r.SDKRetriesMode == retry.SDKNone {
			mode = "none"
		}
		o.addValue("sdk_retries", mode)
	}
	o.size("buffer_body", r.BufferBody, base.BufferBody)
	var ho object
	ho.duration("delay", r.Hedge.Delay, base.Hedge.Delay)
	ho.float("quantile", min(r.Hedge.Quantile, 1), min(base.Hedge.Quantile, 1))
	ho.count("max", min(r.Hedge.Max, maxHedges), min(base.Hedge.Max, maxHedges), retry.DefaultHedgeMax)
	if !ho.isEmpty() {
		o.addObject("hedge", &ho)
	}
	// The zero Retry.Budget shares the default's budget (or, for the
	// default, means the defaults): nothing to write. Any other is the
	// policy's own, written whole.
	if r.Budget != (retry.BudgetPolicy{}) {
		b := explicitBudget(r.Budget)
		var bo object
		bo.addValue("ratio", max(b.Ratio, 0))
		bo.addValue("min_per_second", max(b.MinPerSecond, 0))
		bo.addValue("window", b.Window.String())
		o.addObject("budget", &bo)
	}
	return &o
}

func encodeBreaker(b, base breaker.Policy) *object {
	var o object
	o.duration("window", b.Window, base.Window)
	o.count("min_requests", int(b.MinRequests), int(base.MinRequests), breaker.DefaultMinRequests)
	o.float("failure_ratio", b.FailureRatio, base.FailureRatio)
	o.count("consecutive_failures", int(b.ConsecutiveFailures), int(base.ConsecutiveFailures), breaker.DefaultConsecutiveFailures)
	o.duration("open_timeout", b.OpenTimeout, base.OpenTimeout)
	o.count("half_open_probes", int(b.HalfOpenProbes), int(base.HalfOpenProbes), breaker.DefaultHalfOpenProbes)
	o.bool("count_rate_limited", b.CountRateLimited, base.CountRateLimited)
	o.count("max_keys", b.MaxKeys, base.MaxKeys, breaker.DefaultMaxKeys)
	o.duration("probe_timeout", b.ProbeTimeout, base.ProbeTimeout)
	return &o
}

func encodeCredits(c, base Credits) *object {
	var o object
	o.bool("enabled", c.Enabled, base.Enabled)
	o.duration("cooldown", c.Cooldown, base.Cooldown)
	o.count("max_keys", c.MaxKeys, base.MaxKeys, credits.DefaultMaxKeys)
	if c.RemainingHeader != base.RemainingHeader {
		o.addValue("remaining_header", c.RemainingHeader)
	}
	if c.RemainingField != base.RemainingField {
		o.addValue("remaining_field", c.RemainingField)
	}
	return &o
}

// object builds a JSON object member by member, in order. Its typed adders
// write a member only when its value differs from base's.
type object struct {
	b        []byte
	err      error  // the first value that could not be written
	errField string // and where, as ParseConfig's errors name it
}

func (o *object) isEmpty() bool { return len(o.b) == 0 }

func (o *object) bytes() []byte {
	if o.isEmpty() {
		return []byte("{}")
	}
	return append(o.b, '}')
}

func (o *object) add(name string, value []byte) {
	if o.isEmpty() {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.b = appendJSON(o.b, name, &o.err)
	o.b = append(o.b, ':')
	o.b = append(o.b, value...)
}

func (o *object) addValue(name string, v any) {
	var err error
	o.add(name, appendJSON(nil, v, &err))
	o.fail(name, err)
}

func (o *object) addObject(name string, child *object) { o.addObjectAt(name, name, child) }

// addObjectAt adds child as member name, whose errors are at field: name,
// or for an endpoint `["GET /x"]` (see endpointPath).
func (o *object) addObjectAt(name, field string, child *object) {
	o.add(name, child.bytes())
	if child.err != nil {
		if !strings.HasPrefix(child.errField, "[") {
			field += "."
		}
		o.fail(field+child.errField, child.err)
	}
}

// fail records err, if it is the first, as the error of the member at field.
func (o *object) fail(field string, err error) {
	if err != nil && o.err == nil {
		o.err, o.errField = err, field
	}
}

// duration writes a duration that is not a timeout: negative ones mean the
// default, as zero does.
func (o *object) duration(name string, d, base time.Duration) {
	if d, base = max(d, 0), max(base, 0); d != base {
		o.addValue(name, d.String())
	}
}

// timeout writes a timeout: negative ones are [NoTimeout], "none".
func (o *object) timeout(name string, d, base time.Duration) {
	if d, base = max(d, NoTimeout), max(base, NoTimeout); d == base {
		return
	}
	if d == NoTimeout {
		o.addValue(name, "none")
	} else {
		o.addValue(name, d.String())
	}
}

// count writes a count whose zero a file cannot hold: zero is written as
// def, the value it stands for.
func (o *object) count(name string, n, base, def int) {
	if n, base = max(n, 0), max(base, 0); n == base {
		return
	}
	if n == 0 {
		n = def
	}
	o.addValue(name, n)
}

// size writes a size in bytes, in the largest unit that holds it
// exactly ("64KiB"), else as a number; a negative size means zero.
func (o *object) size(name string, n, base int64) {
	if n, base = max(n, 0), max(base, 0); n == base {
		return
	}
	for _, u := range sizeUnits[:len(sizeUnits)-1] {
		if n > 0 && n%u.n == 0 {
			o.addValue(name, strconv.FormatInt(n/u.n, 10)+u.name)
			return
		}
	}
	o.addValue(name, n)
}

func (o *object) float(name string, f, base float64) {
	if f, base = max(f, 0), max(base, 0); f != base {
		o.addValue(name, f)
	}
}

func (o *object) bool(name string, v, base bool) {
	if v != base {
		o.addValue(name, v)
	}
}

// wait writes a queue or window wait that differs from base: a negative
// one as "never" (the spelling waitField reads).
func (o *object) wait(name string, w, base time.Duration) {
	if w, bw := max(w, -1), max(base, -1); w != bw {
		if w < 0 {
			o.addValue(name, "never")
		} else {
			o.addValue(name, w.String())
		}
	}
}

// scope writes a Scope that differs from base as spelled, an empty one as
// "host" (what it means): an endpoint's explicit "host" under a default
// that leaves it empty must read back as "host", not inherit the empty one.
func (o *object) scope(name, s, base string) {
	if s != base {
		if s == "" {
			s = "host"
		}
		o.addValue(name, s)
	}
}

func (o *object) statuses(name string, codes, base []int) {
	if !slices.Equal(codes, base) {
		if codes == nil {
			codes = []int{}
		}
		o.addValue(name, codes)
	}
}

// appendJSON appends v's JSON to b, recording the first error in *errp.
func appendJSON(b []byte, v any, errp *error) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		if *errp == nil {
			*errp = err
		}
		return append(b, "null"...)
	}
	return append(b, j...)
}
