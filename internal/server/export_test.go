package server

import "net/http"

// SetWrap puts wrap in front of the handler of s, before s opens: a test's
// own handler beside the server's.
func SetWrap(s *Server, wrap func(http.Handler) http.Handler) { s.wrap = wrap }
