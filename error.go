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
	// ETOOMANY: the caller made too many attempts (or requests); it says
	// when to come back.
	ETOOMANY = "too_many_requests"
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

// TrimmedError is the ETRIMMED error of LiveLog.Read: the buffer no longer
// holds the records after After. First is the oldest seq it still holds
// (the next one to be appended when it holds none), so a reader whose
// archive lacks the records in between knows where the log goes on.
type TrimmedError struct {
	JobID, After, First int64
}

func (e *TrimmedError) Error() string {
	return fmt.Sprintf("live log for job %d no longer holds records after %d", e.JobID, e.After)
}

// Unwrap makes ErrorCode see ETRIMMED.
func (e *TrimmedError) Unwrap() error { return &Error{Code: ETRIMMED, Message: e.Error()} }

// GapError is what reading a log returns when records From..To are lost
// for good: the live buffer dropped them and the archive does not have them
// (it could not be written). Readers tell the viewer and go on after To;
// they never report the log's end before its last record.
type GapError struct {
	From, To int64
	// Why says why the archive lacks them, for a person; may be empty.
	Why string
}

func (e *GapError) Error() string {
	why := e.Why
	if why == "" {
		why = "the server could not archive them"
	}
	if e.From == e.To {
		return fmt.Sprintf("record %d of this log was lost: %s", e.From, why)
	}
	return fmt.Sprintf("records %d–%d of this log were lost: %s", e.From, e.To, why)
}
