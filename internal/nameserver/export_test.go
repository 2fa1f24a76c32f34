package nameserver

// SetLoaded sets the function called as each load of a zone's records
// starts, in the load's goroutine; before Serve.
func SetLoaded(s *Server, f func(zone string)) { s.loaded = f }

// InFlight is how many queries s is answering.
func InFlight(s *Server) int { return len(s.busy) }

// CachedZones is how many zones' records s keeps parsed.
func CachedZones(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cache)
}

// SetMaxCachedZones sets the bound on the zones s keeps parsed; before
// Serve.
func SetMaxCachedZones(s *Server, n int) { s.maxZones = n }
