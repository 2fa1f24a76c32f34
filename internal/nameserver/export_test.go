package nameserver

// SetLoaded sets the function called as each load of a zone's records
// starts, in the load's goroutine; before Serve.
func SetLoaded(s *Server, f func(zone string)) { s.loaded = f }

// InFlight is how many queries s is answering.
func InFlight(s *Server) int { return len(s.busy) }
