package core

import (
	"strings"

	"github.com/twofold/twofold"
)

// inField returns err refusing the input field, a top-level member of an
// API request's body and the field of a page's form of that name ("url",
// "events"), so that a form can mark the field it is about
// (twofold.WithInput); nil stays nil.
func inField(field string, err error) error {
	return twofold.WithInput(err, twofold.InBody, twofold.JSONPointer(field))
}

// inQuery is inField for a query parameter of the API (a list's "after").
func inQuery(name string, err error) error {
	return twofold.WithInput(err, twofold.InQuery, name)
}

// RefusedField returns the name of the input err refuses: a top-level
// body member's or a parameter's name, which the pages' forms name their
// fields by; "" when it names none (or a member below the top).
func RefusedField(err error) string {
	in, name := twofold.ErrorInput(err)
	if in != twofold.InBody {
		return name
	}
	if name = strings.TrimPrefix(name, "/"); strings.ContainsAny(name, "/~") {
		return ""
	}
	return name
}

// RefuseOnly returns e, an error about the inputs set in refused (by
// their top-level body member's name), marked as refusing the one that is
// set when only one is: an error about several inputs names none (STYLE
// "Errors"). It returns nil when none is set, so that it is also the
// check: a misplaced option is refused, naming it, only when given.
func RefuseOnly(e *twofold.Error, refused map[string]bool) error {
	var one string
	n := 0
	for name, set := range refused {
		if set {
			one, n = name, n+1
		}
	}
	switch n {
	case 0:
		return nil
	case 1:
		return e.On(one)
	}
	return e
}
