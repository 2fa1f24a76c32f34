package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/twofold/twofold"
)

// ProblemTypeBase prefixes every problem type; the code slug follows it.
const ProblemTypeBase = "https://twofold.dev/problems/"

// statuses is the one code → HTTP status table.
var statuses = map[twofold.Code]int{
	twofold.CodeInvalid:            http.StatusBadRequest,
	twofold.CodeInvalidCredentials: http.StatusUnauthorized,
	twofold.CodeInvalidCode:        http.StatusUnauthorized,
	twofold.CodeUnauthorized:       http.StatusUnauthorized,
	twofold.CodeElevationRequired:  http.StatusForbidden,
	twofold.CodeForbidden:          http.StatusForbidden,
	twofold.CodeNotFound:           http.StatusNotFound,
	twofold.CodeConflict:           http.StatusConflict,
	twofold.CodeLoginExpired:       http.StatusGone,
	twofold.CodeThrottled:          http.StatusTooManyRequests,
	twofold.CodeInternal:           http.StatusInternalServerError,
}

// Status returns the HTTP status for a domain code.
func Status(c twofold.Code) int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// writeError writes err as application/problem+json. Internal errors are
// logged with their cause and shown to the client only as "internal error".
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := twofold.ErrorCode(err)
	status := Status(code)
	if code == twofold.CodeInternal {
		log.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()), "method", r.Method, "path", r.Pattern, "err", err)
	}
	var te *twofold.Error
	if errors.As(err, &te) && te.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(te.RetryAfter.Seconds()))))
	}
	writeProblem(w, Problem{Type: ProblemTypeBase + string(code), Title: http.StatusText(status), Status: status, Detail: twofold.ErrorMessage(err)})
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// maxBody bounds request bodies.
const maxBody = 64 << 10

// decode reads a JSON object body into v; malformed input is an invalid problem.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		var me *http.MaxBytesError
		switch {
		case errors.As(err, &me):
			return twofold.Errorf(twofold.CodeInvalid, "request body is larger than %d bytes", maxBody)
		case errors.As(err, &te) && te.Field != "":
			return twofold.Errorf(twofold.CodeInvalid, "field %q must be a %s", te.Field, te.Type.Kind())
		case errors.As(err, &se):
			return twofold.Errorf(twofold.CodeInvalid, "request body is not valid JSON (at byte %d)", se.Offset)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return twofold.Errorf(twofold.CodeInvalid, "request body is not valid JSON (it ends too soon)")
		default:
			return twofold.Errorf(twofold.CodeInvalid, "request body must be a JSON object")
		}
	}
	if dec.More() {
		return twofold.Errorf(twofold.CodeInvalid, "request body must hold a single JSON object")
	}
	return nil
}
