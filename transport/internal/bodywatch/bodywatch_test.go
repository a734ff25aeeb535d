package bodywatch

import (
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a layer's wrapper: it counts its hooks and keeps a prefix.
type recorder struct {
	Body
	Cuttable
	before, ends atomic.Int32
	how          End
	err          error
	kept         []byte
	limit        int
	onEnd        func()
}

func (r *recorder) BeforeRead() { r.before.Add(1) }

func (r *recorder) AfterRead(p []byte, err error, ended End) error {
	r.kept, _ = Keep(r.kept, p, r.limit)
	if ended == Cut && err != io.EOF {
		return errCutRead
	}
	return err
}

func (r *recorder) End(how End, err error) {
	r.how, r.err = how, err
	r.ends.Add(1)
	if r.onEnd != nil {
		r.onEnd()
	}
}

var errCutRead = errors.New("cut read")

func watch(rc io.ReadCloser, cuts bool) *recorder {
	r := &recorder{limit: 4}
	r.Watch(rc, r, cuts)
	return r
}

// below is a body that counts its Closes.
type below struct {
	io.Reader
	closes atomic.Int32
}

func (b *below) Close() error { b.closes.Add(1); return nil }

func TestEnds(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		r        io.Reader
		read     bool
		want     End
		wantErr  error
		wantKept string
	}{
		{"eof", strings.NewReader("hello"), true, EOF, nil, "hell"},
		{"failed", io.MultiReader(strings.NewReader("he"), iotestErr{boom}), true, Failed, boom, "he"},
		{"closed", strings.NewReader("hello"), false, Closed, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bl := &below{Reader: tc.r}
			r := watch(bl, false)
			if tc.read {
				io.ReadAll(r)
				if r.ends.Load() != 1 {
					t.Fatalf("after the last Read, End ran %d times, want 1 (before Close)", r.ends.Load())
				}
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("second Close() = %v, want nil", err)
			}
			if n := r.ends.Load(); n != 1 {
				t.Errorf("End ran %d times, want 1", n)
			}
			if r.how != tc.want || r.err != tc.wantErr {
				t.Errorf("End(%v, %v), want End(%v, %v)", r.how, r.err, tc.want, tc.wantErr)
			}
			if n := bl.closes.Load(); n != 1 {
				t.Errorf("body below closed %d times, want 1", n)
			}
			if string(r.kept) != tc.wantKept {
				t.Errorf("kept %q, want %q (the first 4 bytes read)", r.kept, tc.wantKept)
			}
		})
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

// A Read after the end is still forwarded, but its bytes are no longer
// shown to the layer, and End does not run again.
func TestAfterEndBytesNotSeen(t *testing.T) {
	r := watch(&below{Reader: strings.NewReader("abcdef")}, false)
	r.limit = 10
	p := make([]byte, 2)
	r.Read(p)
	r.Close()
	n, _ := r.Read(p)
	if n != 2 || string(r.kept) != "ab" {
		t.Errorf("Read after Close: n = %d, kept %q; want 2 and only the bytes read before the end (ab)", n, r.kept)
	}
	if r.ends.Load() != 1 || r.before.Load() != 2 {
		t.Errorf("End ran %d times, BeforeRead %d; want 1 and 2", r.ends.Load(), r.before.Load())
	}
}

// blocking is a body whose Read waits until it is closed, as a network
// body does when its connection is torn down.
type blocking struct {
	once   sync.Once
	closed chan struct{}
}

func (b *blocking) Read([]byte) (int, error) {
	<-b.closed
	return 0, errors.New("read on closed body")
}

func (b *blocking) Close() error { b.once.Do(func() { close(b.closed) }); return nil }

// Close may race with a Read (http.Client closes the body on timeout) and
// with other Closes: the body ends once, as Closed when Close came first.
func TestConcurrentReadClose(t *testing.T) {
	for range 50 {
		bl := &blocking{closed: make(chan struct{})}
		r := watch(bl, false)
		var wg sync.WaitGroup
		wg.Add(4)
		go func() { defer wg.Done(); io.ReadAll(r) }()
		for range 3 {
			go func() { defer wg.Done(); r.Close() }()
		}
		wg.Wait()
		if n := r.ends.Load(); n != 1 {
			t.Fatalf("End ran %d times, want 1", n)
		}
		if r.how != Closed {
			t.Fatalf("End(%v), want closed: Close ends the body before the Read it unblocks", r.how)
		}
	}
}

// A Cut races with Reads and Close; it ends the body, tells the reporter
// first, and the interrupted Read's error goes through AfterRead.
func TestCut(t *testing.T) {
	bl := &blocking{closed: make(chan struct{})}
	r := watch(bl, true)
	rep := &reporter{}
	if !r.NotifyCut(rep, 7) {
		t.Fatal("NotifyCut() = false on a live body that may be cut")
	}
	if r.NotifyCut(rep, 8) {
		t.Error("NotifyCut() = true twice: the first reporter would not hear")
	}
	done := make(chan error)
	go func() {
		_, err := r.Read(make([]byte, 1))
		done <- err
	}()
	cause := errors.New("idle")
	r.onEnd = func() {
		if rep.calls.Load() != 1 {
			t.Error("End ran before the reporter was told")
		}
		bl.Close() // the layer makes the waiting Read fail
	}
	if !r.Cut(cause) {
		t.Fatal("Cut() = false on a live body")
	}
	if err := <-done; err != errCutRead {
		t.Errorf("interrupted Read error = %v, want AfterRead's %v", err, errCutRead)
	}
	if r.Cut(cause) || r.Close() != nil {
		t.Error("second Cut() = true, or Close failed")
	}
	if rep.calls.Load() != 1 || !rep.cut || rep.token != 7 {
		t.Errorf("reporter heard %d times (cut %v, token %d), want once, cut, 7", rep.calls.Load(), rep.cut, rep.token)
	}
	if r.ends.Load() != 1 || r.how != Cut || r.err != cause {
		t.Errorf("End ran %d times with (%v, %v), want once with (cut, %v)", r.ends.Load(), r.how, r.err, cause)
	}
	if r.NotifyCut(&reporter{}, 9) {
		t.Error("NotifyCut() = true on an ended body")
	}
}

type reporter struct {
	calls atomic.Int32
	cut   bool
	token uint64
}

func (r *reporter) BodyDone(token uint64, cut bool) {
	r.calls.Add(1)
	r.cut, r.token = cut, token
}

// The reporter hears cut=false when the body ends otherwise.
func TestReporterHearsOtherEnds(t *testing.T) {
	r := watch(&below{Reader: strings.NewReader("x")}, true)
	rep := &reporter{}
	r.NotifyCut(rep, 3)
	io.ReadAll(r)
	if rep.calls.Load() != 1 || rep.cut || rep.token != 3 {
		t.Errorf("reporter heard %d times (cut %v, token %d), want once, not cut, 3", rep.calls.Load(), rep.cut, rep.token)
	}
}

// A body that does not cut passes NotifyCut to the body below, so a layer
// between a breaker and the one that cuts hides nothing.
func TestNotifyCutForwarded(t *testing.T) {
	inner := watch(&below{Reader: strings.NewReader("x")}, true)
	outer := watch(inner, false)
	rep := &reporter{}
	if !outer.NotifyCut(rep, 5) {
		t.Fatal("NotifyCut() = false through a body above one that may be cut")
	}
	outer.Close()
	if rep.calls.Load() != 1 || rep.cut {
		t.Errorf("reporter heard %d times (cut %v), want once, not cut", rep.calls.Load(), rep.cut)
	}
	if watch(&below{Reader: strings.NewReader("")}, false).NotifyCut(rep, 1) {
		t.Error("NotifyCut() = true with nothing that may cut")
	}
}

func TestWatchCutsNeedsCuttable(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Watch(cuts=true) without a Cuttable did not panic")
		}
	}()
	var b plain
	b.Watch(&below{}, &b, true)
}

type plain struct{ Body }

func (*plain) BeforeRead()                                {}
func (*plain) AfterRead(_ []byte, err error, _ End) error { return err }
func (*plain) End(End, error)                             {}

type readWriteCloser struct {
	below
	written strings.Builder
}

func (c *readWriteCloser) Write(p []byte) (int, error) { return c.written.Write(p) }

func TestWritable(t *testing.T) {
	rwc := &readWriteCloser{below: below{Reader: strings.NewReader("x")}}
	r := watch(rwc, false)
	rc := Writable(r, rwc)
	w, ok := rc.(io.Writer)
	if !ok {
		t.Fatal("Writable lost the io.Writer of a 101 body")
	}
	w.Write([]byte("ping"))
	if rwc.written.String() != "ping" {
		t.Errorf("wrote %q below, want ping", rwc.written.String())
	}
	if Unwrap(rc) != Watched(r) {
		t.Error("Unwrap did not find the wrapper")
	}
	if _, ok := rc.(Notifier); !ok {
		t.Error("a writable body is not a Notifier")
	}
	plainBody := &below{Reader: strings.NewReader("x")}
	if rc := Writable(watch(plainBody, false), plainBody); rc == nil {
		t.Fatal("nil")
	} else if _, ok := rc.(io.Writer); ok {
		t.Error("Writable made a Writer of a body that is not one")
	}
	if Unwrap(plainBody) != nil {
		t.Error("Unwrap found a wrapper in a plain body")
	}
}

func TestKeep(t *testing.T) {
	buf, over := Keep(nil, []byte("abc"), 4)
	buf, over2 := Keep(buf, []byte("def"), 4)
	buf, over3 := Keep(buf, []byte("g"), 4)
	if string(buf) != "abcd" || over || !over2 || !over3 {
		t.Errorf("Keep: %q %v %v %v, want abcd false true true", buf, over, over2, over3)
	}
}

func TestEndString(t *testing.T) {
	for e, want := range map[End]string{0: "none", EOF: "eof", Failed: "failed", Closed: "closed", Cut: "cut", 9: "End(9)"} {
		if got := e.String(); got != want {
			t.Errorf("End(%d).String() = %q, want %q", e, got, want)
		}
	}
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }
func (endless) Close() error               { return nil }

// A Read through the wrapper allocates nothing.
func TestReadDoesNotAllocate(t *testing.T) {
	r := watch(endless{}, false)
	r.limit = 0
	p := make([]byte, 8)
	if n := testing.AllocsPerRun(100, func() { r.Read(p) }); n != 0 {
		t.Errorf("Read allocates %v times, want 0", n)
	}
}

func BenchmarkRead(b *testing.B) {
	r := watch(endless{}, false)
	r.limit = 0
	p := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		r.Read(p)
	}
}

// Close ends the body before it closes the body below, so that a layer
// can release what that Close may wait on (timeout cancels its context).
func TestCloseEndsFirst(t *testing.T) {
	bl := &below{Reader: strings.NewReader("x")}
	r := watch(bl, false)
	closesAtEnd := int32(-1)
	r.onEnd = func() { closesAtEnd = bl.closes.Load() }
	r.Close()
	if closesAtEnd != 0 {
		t.Errorf("End ran after %d Closes below, want before any", closesAtEnd)
	}
}

type panickingReporter struct{}

func (panickingReporter) BodyDone(uint64, bool) { panic("hook") }

// A Reporter that panics (it runs a user's hook: the breaker's
// OnStateChange) still lets the layer hear the end: its span ends and its
// context is released; the panic goes on to the caller.
func TestEndRunsWhenReporterPanics(t *testing.T) {
	r := watch(&below{Reader: strings.NewReader("x")}, true)
	r.NotifyCut(panickingReporter{}, 1)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the reporter's panic did not reach the caller")
			}
		}()
		r.Close()
	}()
	if r.ends.Load() != 1 || r.how != Closed {
		t.Errorf("End ran %d times (%v) after the reporter panicked, want once (closed)", r.ends.Load(), r.how)
	}
}

// A layer's End that panics (tracing's, when a user's span processor
// panics in span.End) still lets Close reach the body below: the panic
// goes on to the caller, the connection is closed, and once.
func TestCloseReachesBelowWhenEndPanics(t *testing.T) {
	bl := &below{Reader: strings.NewReader("x")}
	r := watch(bl, false)
	r.onEnd = func() { panic("span processor") }
	func() {
		defer func() {
			if recover() == nil {
				t.Error("End's panic did not reach the caller")
			}
		}()
		r.Close()
	}()
	if bl.closes.Load() != 1 {
		t.Errorf("body below closed %d times after End panicked, want 1", bl.closes.Load())
	}
	if err := r.Close(); err != nil || bl.closes.Load() != 1 {
		t.Errorf("second Close = %v, closes below %d; want nil, 1", err, bl.closes.Load())
	}
}
