package gaffer

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in the web package, nowhere else.
const (
	ECONFLICT     = "conflict"
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	EUNAVAILABLE  = "unavailable"
	// ETRIMMED tells a log reader that the live buffer no longer holds the
	// records it asked for: read them from the archive instead.
	ETRIMMED = "trimmed"
)

// Error is an error whose Message is safe to show to a person.
// Anything that is not an *Error is reported to clients as "internal error".
type Error struct {
	Code    string
	Message string
}

// Error returns the message alone: it is written for a person.
func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of the first *Error in err's chain,
// or "internal error" so internal details never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
