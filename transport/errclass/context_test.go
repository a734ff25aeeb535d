package errclass

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// logObserver appends what it hears to a shared log, under its name.
type logObserver struct {
	name string
	log  *[]string
}

func (o logObserver) Retrying(last Outcome, next Attempt) {
	*o.log = append(*o.log, fmt.Sprintf("%s retrying %d after %d", o.name, next.Number, last.StatusCode))
}

func (o logObserver) GaveUp(last Outcome, attempts int, reason StopReason) {
	*o.log = append(*o.log, fmt.Sprintf("%s gave up after %d: %s, %d", o.name, attempts, reason, last.StatusCode))
}

// Adding an observer keeps those already in the context, which hear first;
// a context made earlier is not changed. Issue 13, item 3: WithObserver
// replacing the observer in ctx (or calling them in another order) fails
// this test.
func TestObserversCompose(t *testing.T) {
	var log []string
	a := WithObserver(context.Background(), logObserver{"a", &log})
	abc := WithObserver(WithObserver(a, logObserver{"b", &log}), logObserver{"c", &log})

	o := ObserverFromContext(abc)
	o.Retrying(Outcome{StatusCode: 503}, Attempt{Number: 2, Delay: time.Second})
	o.GaveUp(Outcome{StatusCode: 429}, 3, StopBudgetExhausted)
	want := []string{
		"a retrying 2 after 503", "b retrying 2 after 503", "c retrying 2 after 503",
		"a gave up after 3: budget_exhausted, 429", "b gave up after 3: budget_exhausted, 429", "c gave up after 3: budget_exhausted, 429",
	}
	if !slices.Equal(log, want) {
		t.Errorf("observers heard\n%q\nwant\n%q", log, want)
	}

	log = nil
	ObserverFromContext(a).GaveUp(Outcome{}, 1, StopNotReplayable)
	if want := []string{"a gave up after 1: not_replayable, 0"}; !slices.Equal(log, want) {
		t.Errorf("the earlier context's observers heard %q, want %q", log, want)
	}
}

func TestWithNilObserver(t *testing.T) {
	ctx := context.Background()
	if got := WithObserver(ctx, nil); got != ctx {
		t.Errorf("WithObserver(ctx, nil) = %v, want ctx unchanged", got)
	}
	if o := ObserverFromContext(ctx); o != nil {
		t.Errorf("ObserverFromContext(Background) = %v, want nil", o)
	}
	// A nil observer added later silences nobody.
	var log []string
	ctx = WithObserver(WithObserver(ctx, logObserver{"a", &log}), nil)
	ObserverFromContext(ctx).Retrying(Outcome{}, Attempt{Number: 2})
	if len(log) != 1 {
		t.Errorf("observers heard %q after a nil one was added, want a's one call", log)
	}
}
