package errclass

import "reflect"

// Errors reach Classify from any RoundTripper, and some hand back a typed
// nil (var e *net.OpError; return nil, e), alone or wrapped. errors.Is and
// errors.As call Unwrap on every error of a chain, and most Unwrap methods
// dereference their receiver: they panic there. is and as walk a chain as
// they do, but treat an error holding a nil pointer (or nil map, slice,
// func or chan) as a leaf: they call none of its methods and never match it.

// isNil reports whether v is nil or holds a nil pointer, map, slice, func
// or chan.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}

// is is errors.Is for a comparable target, minus the typed nils.
func is(err, target error) bool {
	for err != nil {
		if err == target {
			return true
		}
		if isNil(err) {
			return false
		}
		if x, ok := err.(interface{ Is(error) bool }); ok && x.Is(target) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if is(e, target) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// as is errors.As, minus the typed nils: it sets *target to the first error
// in err's chain that is a non-nil T (or that fills it through an As
// method).
func as[T any](err error, target *T) bool {
	for err != nil {
		if isNil(err) {
			return false
		}
		if e, ok := err.(T); ok {
			*target = e
			return true
		}
		if x, ok := err.(interface{ As(any) bool }); ok && x.As(target) {
			if !isNil(*target) {
				return true
			}
			var zero T
			*target = zero
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if as(e, target) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}
