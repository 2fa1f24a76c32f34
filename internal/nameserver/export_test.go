package nameserver

// SetLoaded sets the function called as each load of a zone's records
// starts, in the load's goroutine; before Serve.
func SetLoaded(s *Server, f func(zone string)) { s.loaded = f }
