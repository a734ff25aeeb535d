package pacing

// A small parser for the structured-field Lists of RFC 9651 that the IETF
// httpapi RateLimit fields use (draft-ietf-httpapi-ratelimit-headers):
//
//	RateLimit-Policy: "default";q=100;w=60, "daily";q=1000;w=86400
//	RateLimit: "default";r=0;t=30
//
// and the Dictionary of its earlier drafts ("limit=100, remaining=0,
// reset=30"). It reads only what pacing needs: each member's name (a String
// or Token), its own integer value in the Dictionary form, and its integer
// parameters. It never allocates (names are slices of the field value,
// escapes left in), reads at most maxField bytes and hands on at most
// maxMembers members; a malformed field counts as absent, so a garbled
// header makes no request wait.

const (
	maxField   = 4096 // longer field values are ignored
	maxMembers = 16   // members past these are not looked at
	maxParams  = 8    // parameters past these on a member are ignored
	maxDigits  = 15   // RFC 9651 §3.3.1: integers have at most 15 digits
)

type param struct {
	key string
	num int64
	ok  bool // the value is a number (integer part of a decimal)
}

type member struct {
	key    string // Dictionary member key ("remaining"); "" in a List
	name   string // String or Token bare item, raw ("default")
	num    int64  // integer bare item, when isNum
	isNum  bool
	params [maxParams]param
	np     int
}

// param returns the integer parameter k of m, if it has one.
func (m *member) param(k string) (int64, bool) {
	for i := 0; i < m.np; i++ {
		if m.params[i].key == k {
			return m.params[i].num, m.params[i].ok
		}
	}
	return 0, false
}

type sfParser struct {
	s string
	i int
}

// list iterates over the members of a List or Dictionary:
//
//	l := list{p: sfParser{s: v}}
//	for l.next(&m) { ... }
//	if l.bad { /* discard what the loop saw */ }
//
// It hands on at most maxMembers members, then checks the rest of the
// field's syntax; bad is set when the field is malformed or too long.
type list struct {
	p   sfParser
	n   int
	bad bool
}

// next parses the next member into m, reporting false at the end of the
// field or on a syntax error (then l.bad is set).
func (l *list) next(m *member) bool {
	p := &l.p
	if l.n == 0 {
		if len(p.s) > maxField {
			l.bad = true
			return false
		}
		p.ows()
	}
	for p.i < len(p.s) {
		if l.n > 0 {
			if p.s[p.i] != ',' {
				l.bad = true
				return false
			}
			p.i++
			p.ows()
			if p.i == len(p.s) { // trailing comma
				l.bad = true
				return false
			}
		}
		*m = member{}
		if !p.member(m) {
			l.bad = true
			return false
		}
		p.ows()
		l.n++
		if l.n <= maxMembers {
			return true
		}
	}
	return false
}

func (p *sfParser) ows() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) sp() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// member parses an Item, or a Dictionary member key[=Item], with its
// parameters.
func (p *sfParser) member(m *member) bool {
	if p.i >= len(p.s) {
		return false
	}
	if c := p.s[p.i]; isLCAlpha(c) || c == '*' {
		// A Token or a Dictionary key: a key is followed by '=', ';', ','
		// or the end, and is lower case; a Token may be anything else.
		start := p.i
		tok, ok := p.token()
		if !ok {
			return false
		}
		if p.i < len(p.s) && p.s[p.i] == '=' && isKey(tok) {
			m.key = tok
			p.i++
			if !p.bareItem(&m.name, &m.num, &m.isNum) {
				return false
			}
		} else {
			m.name = p.s[start:p.i]
		}
	} else if !p.bareItem(&m.name, &m.num, &m.isNum) {
		return false
	}
	return p.params(m)
}

func (p *sfParser) params(m *member) bool {
	for p.i < len(p.s) && p.s[p.i] == ';' {
		p.i++
		p.sp()
		k, ok := p.key()
		if !ok {
			return false
		}
		var pr param
		pr.key = k
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			var name string
			if !p.bareItem(&name, &pr.num, &pr.ok) {
				return false
			}
		}
		if m.np < maxParams {
			m.params[m.np] = pr
			m.np++
		}
	}
	return true
}

// bareItem parses an Integer or Decimal (into num), a String or Token
// (into name), a Boolean, a Byte Sequence or a Date (skipped).
func (p *sfParser) bareItem(name *string, num *int64, isNum *bool) bool {
	if p.i >= len(p.s) {
		return false
	}
	switch c := p.s[p.i]; {
	case c == '-' || isDigit(c):
		n, ok := p.number()
		*num, *isNum = n, ok
		return ok
	case c == '@': // Date: seconds since the epoch
		p.i++
		n, ok := p.number()
		*num, *isNum = n, ok
		return ok
	case c == '"':
		s, ok := p.str()
		*name = s
		return ok
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			p.i += 2
			return true
		}
		return false
	case c == ':':
		end := p.i + 1
		for end < len(p.s) && p.s[end] != ':' {
			if !isBase64(p.s[end]) {
				return false
			}
			end++
		}
		if end == len(p.s) {
			return false
		}
		p.i = end + 1
		return true
	case isAlpha(c) || c == '*':
		t, ok := p.token()
		*name = t
		return ok
	}
	return false
}

// number parses an Integer or a Decimal, keeping a Decimal's integer part.
func (p *sfParser) number() (int64, bool) {
	neg := false
	if p.i < len(p.s) && p.s[p.i] == '-' {
		neg = true
		p.i++
	}
	start := p.i
	var n int64
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		if p.i-start >= maxDigits {
			return 0, false
		}
		n = n*10 + int64(p.s[p.i]-'0')
		p.i++
	}
	if p.i == start {
		return 0, false
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		if p.i-start > 12 {
			return 0, false
		}
		p.i++
		frac := p.i
		for p.i < len(p.s) && isDigit(p.s[p.i]) {
			p.i++
		}
		if p.i == frac || p.i-frac > 3 {
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

// str parses a String, returning its raw content (escapes left in).
func (p *sfParser) str() (string, bool) {
	p.i++ // opening quote
	start := p.i
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '\\':
			if p.i+1 >= len(p.s) || (p.s[p.i+1] != '"' && p.s[p.i+1] != '\\') {
				return "", false
			}
			p.i += 2
		case c == '"':
			s := p.s[start:p.i]
			p.i++
			return s, true
		case c < 0x20 || c > 0x7e:
			return "", false
		default:
			p.i++
		}
	}
	return "", false
}

func (p *sfParser) token() (string, bool) {
	start := p.i
	if p.i >= len(p.s) || !(isAlpha(p.s[p.i]) || p.s[p.i] == '*') {
		return "", false
	}
	p.i++
	for p.i < len(p.s) && isTChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i], true
}

func (p *sfParser) key() (string, bool) {
	start := p.i
	if p.i >= len(p.s) || !(isLCAlpha(p.s[p.i]) || p.s[p.i] == '*') {
		return "", false
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !(isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		p.i++
	}
	return p.s[start:p.i], true
}

func isKey(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*') {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool   { return '0' <= c && c <= '9' }
func isLCAlpha(c byte) bool { return 'a' <= c && c <= 'z' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || 'A' <= c && c <= 'Z' }

func isBase64(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '+' || c == '/' || c == '='
}

// isTChar reports a tchar of RFC 9110 §5.6.2, or ':' or '/', which
// Tokens may also hold.
func isTChar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~', ':', '/':
		return true
	}
	return false
}
