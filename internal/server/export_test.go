package server

import (
	"net/http"
	"time"
)

// SetWrap puts wrap in front of the handler of s, before s opens: a test's
// own handler beside the server's.
func SetWrap(s *Server, wrap func(http.Handler) http.Handler) { s.wrap = wrap }

// HTTPIdleTimeout is the idle timeout of the HTTP server s opened.
func HTTPIdleTimeout(s *Server) time.Duration { return s.http.IdleTimeout }

// CloseListener closes the listener of s under its serve loop, as an
// accept that fails for good (out of file descriptors or buffers) ends it.
func CloseListener(s *Server) error { return s.ln.Close() }
