package bodywatch_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/resilient-http/resilient/transport/internal/bodywatch"
)

// counted is a layer's body wrapper: it counts the bytes the caller reads
// and says how many when the body ends.
type counted struct {
	bodywatch.Body
	n int // written under the Body's lock, read by End after it
}

func (c *counted) BeforeRead() {}

func (c *counted) AfterRead(p []byte, err error, _ bodywatch.End) error {
	c.n += len(p)
	return err
}

func (c *counted) End(how bodywatch.End, err error) {
	fmt.Printf("body ended (%v) after %d bytes\n", how, c.n)
}

func Example() {
	below := io.NopCloser(strings.NewReader("hello, world"))
	c := &counted{}
	c.Watch(below, c, false)
	body := bodywatch.Writable(c, below)

	io.ReadAll(body)
	body.Close() // already ended: nothing more to say
	// Output: body ended (eof) after 12 bytes
}
