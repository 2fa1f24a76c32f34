package core

import "github.com/twofold/twofold/internal/credhash"

// SetArgonHook has f called with the parameters of every Argon2id hash that
// s runs, as it starts, so that tests count hashes rather than time them. It
// is set before s is used.
func SetArgonHook(s *Service, f func(credhash.Params)) { s.onArgon = f }
