package idempotency

// DefaultHeader is the header a key is sent in when [Policy.Header] is
// empty: the name Stripe uses and the IETF draft standardises.
const DefaultHeader = "Idempotency-Key"

// Policy says which header carries the key and how keys are made. The
// zero Policy sends a [UUIDv7] in [DefaultHeader].
type Policy struct {
	// Header names the header the key is sent in; it must be a valid
	// header name. Empty means DefaultHeader. errclass (and so retry)
	// recognises only Idempotency-Key and X-Idempotency-Key as keys.
	Header string

	// New returns a fresh key; it is called once per POST or PATCH that
	// has none, and must be safe for concurrent use. Nil means [UUIDv7].
	// Code only.
	New func() string `json:"-"`
}
