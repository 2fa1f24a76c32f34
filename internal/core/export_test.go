package core

import "github.com/twofold/twofold/internal/credhash"

// SetArgonHook has f called with the parameters of every Argon2id hash that
// s runs, as it starts, so that tests count hashes rather than time them. It
// is set before s is used.
func SetArgonHook(s *Service, f func(credhash.Params)) { s.onArgon = f }

// SetRecordPage makes s read zones n records at a time. It is set before s
// is used.
func SetRecordPage(s *Service, n int) { s.recordPage = n }

// RefusalParams returns the Argon2id parameters that s pads every refused
// password's check to, an unknown username's too.
func RefusalParams(s *Service) credhash.Params { return s.refusalParams() }
