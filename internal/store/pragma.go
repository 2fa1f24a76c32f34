package store

import (
	"context"
	"errors"
	"fmt"
)

// Pragma returns the value of the SQLite pragma name (for example
// "journal_mode" or "foreign_keys"), for tests and diagnostics. It is an
// error on PostgreSQL and for a name that is not a plain identifier.
func (s *Store) Pragma(ctx context.Context, name string) (string, error) {
	if s.dialect != SQLite {
		return "", fmt.Errorf("pragma %s: not a SQLite store", name)
	}
	if name == "" {
		return "", errors.New("pragma: empty name")
	}
	for _, c := range name {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return "", fmt.Errorf("pragma %q: not an identifier", name)
		}
	}
	var v string
	if err := s.conn(ctx).QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
		return "", fmt.Errorf("pragma %s: %w", name, err)
	}
	return v, nil
}
