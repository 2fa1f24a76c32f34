package core

import "errors"

// FieldError is Err, the refusal of a request for one of its inputs,
// with that input's name (Field: "url", "events"), so that a form can mark
// the field it is about. Code and message are Err's (twofold.ErrorCode
// and twofold.ErrorMessage look through it).
type FieldError struct {
	Field string
	Err   error
}

// Error implements error.
func (e *FieldError) Error() string { return e.Err.Error() }

// Unwrap returns the refusal.
func (e *FieldError) Unwrap() error { return e.Err }

// inField returns err refusing the input field (FieldError); nil stays
// nil.
func inField(field string, err error) error {
	if err == nil {
		return nil
	}
	return &FieldError{Field: field, Err: err}
}

// RefusedField returns the name of the input err refuses (FieldError), or
// "" when it names none.
func RefusedField(err error) string {
	var f *FieldError
	if errors.As(err, &f) {
		return f.Field
	}
	return ""
}
