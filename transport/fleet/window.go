package fleet

import "time"

// slots is how many slots a counter's window has: a count is exact to a
// tenth of the window.
const slots = 10

// counter counts events over a rolling window of slots. Its owner guards
// it.
type counter struct {
	window time.Duration
	base   time.Time // slot numbers count from here (monotonic)
	n      [slots]int
	slot   [slots]int64 // the absolute slot number n[i] counts, for i = slot % slots
}

func (c *counter) slotAt(now time.Time) int64 {
	return int64(now.Sub(c.base) / (c.window / slots))
}

func (c *counter) add(now time.Time, n int, window time.Duration) {
	if c.window != window || c.base.IsZero() {
		*c = counter{window: window, base: now}
	}
	s := c.slotAt(now)
	i := s % slots
	if c.slot[i] != s {
		c.slot[i], c.n[i] = s, 0
	}
	c.n[i] += n
}

func (c *counter) sum(now time.Time) int {
	if c.window <= 0 {
		return 0
	}
	s := c.slotAt(now)
	total := 0
	for i := range c.n {
		if c.slot[i] > s-slots && c.slot[i] <= s {
			total += c.n[i]
		}
	}
	return total
}

// bucket is a token bucket. Its owner guards it.
type bucket struct {
	tokens float64
	last   time.Time
	full   time.Time // when tokens reach the burst again, at the last rate
}

// take takes one token at rate l, or reports how long until one is there.
func (b *bucket) take(l Limit, now time.Time) (time.Duration, bool) {
	burst := float64(max(l.Burst, 1))
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(burst, b.tokens+el.Seconds()*l.Rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		b.full = now.Add(time.Duration((burst - b.tokens) / l.Rate * float64(time.Second)))
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.Rate * float64(time.Second)), false
}
