package store

import (
	"context"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

// KeepReplacedEmail records that an operator replaced email, the account's
// address, at at; an address kept already gets the later time.
func (s *Store) KeepReplacedEmail(ctx context.Context, accountID, email string, at time.Time) error {
	_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO replaced_emails (account_id, email, replaced_at) VALUES ($1, $2, $3)
		ON CONFLICT (account_id, email) DO UPDATE SET replaced_at = excluded.replaced_at`, accountID, email, micros(at))
	if err != nil {
		return fmt.Errorf("keep replaced email: %w", err)
	}
	return nil
}

// ReplacedEmails returns the account's addresses an operator replaced at or
// after since, the latest replaced first.
func (s *Store) ReplacedEmails(ctx context.Context, accountID string, since time.Time) ([]twofold.ReplacedEmail, error) {
	return queryAll(ctx, s, "replaced emails", func(row interface{ Scan(...any) error }) (twofold.ReplacedEmail, error) {
		r := twofold.ReplacedEmail{AccountID: accountID}
		var at int64
		err := row.Scan(&r.Email, &at)
		r.ReplacedAt = fromMicros(at)
		return r, err
	}, `SELECT email, replaced_at FROM replaced_emails WHERE account_id = $1 AND replaced_at >= $2 ORDER BY replaced_at DESC, email`,
		accountID, micros(since))
}

// PurgeReplacedEmails deletes the addresses replaced before before, but
// not those of an account whose reset of two-factor waits: its notices
// when it is carried out or cancelled go to them too. It returns how many
// went. It deletes in batches (sweepBatch), found by the index of the
// times they were replaced.
func (s *Store) PurgeReplacedEmails(ctx context.Context, before time.Time) (int64, error) {
	return s.sweep(ctx, "replaced_emails", s.sweepSQL("replaced_emails", "rowid", purgedReplacedCond), before)
}

// purgedReplacedCond is the condition of the addresses
// PurgeReplacedEmails deletes, for sweepSQL.
const purgedReplacedCond = `replaced_at < $1
	AND NOT EXISTS (SELECT 1 FROM two_factor_resets r WHERE r.account_id = replaced_emails.account_id)`
