package idempotency

import (
	"crypto/rand"
	"time"
)

// UUIDv7 returns a new UUID version 7 (RFC 9562 §5.7) in its 36-character
// text form, "0190a6e4-5c3a-7b1e-9f2d-3c4b5a697887": the Unix time in
// milliseconds in the first 48 bits, then the version (7), 12 random
// bits, the variant (binary 10) and 62 random bits. The random bits come
// from crypto/rand. It is safe for concurrent use and allocates only the
// string.
func UUIDv7() string {
	return uuidV7(time.Now())
}

// uuidV7 builds a version 7 UUID for the instant now.
func uuidV7(now time.Time) string {
	var u [16]byte
	_, _ = rand.Read(u[6:]) // never fails: crypto/rand crashes the program instead
	ms := uint64(now.UnixMilli())
	for i := range 6 { // unix_ts_ms, big-endian
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 | u[6]&0x0f // version 7 over the top 4 bits of rand_a
	u[8] = 0x80 | u[8]&0x3f // variant 10 over the top 2 bits of rand_b
	return format(&u)
}

// format writes u in the 8-4-4-4-12 hex text form of RFC 9562 §4.
func format(u *[16]byte) string {
	const hex = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
	return string(b[:])
}
