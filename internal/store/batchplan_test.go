package store_test

import (
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestBatchReadFindsRowsByKey: on a new database, whose tables are empty
// and were never analyzed, the plan PostgreSQL makes for the batch read of
// second steps, and keeps while it stays prepared, finds each login, each
// throttle and each bucket by its key's index. A plan that hashed a whole
// table instead, chosen because the table was small when the plan was made,
// went on scanning it in full as it grew (README "Performance").
func TestBatchReadFindsRowsByKey(t *testing.T) {
	t.Parallel()
	s := open(t, testenv.PostgresDSN(t))
	plan, err := s.BatchReadPlanForTest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"logins", "throttles", "rate_buckets", "factors"} {
		if strings.Contains(plan, "Seq Scan on "+table) {
			t.Errorf("the batch read scans %s in full:\n%s", table, plan)
		}
	}
	for _, index := range []string{"logins_pkey", "throttles_pkey", "rate_buckets_pkey"} {
		if !strings.Contains(plan, "Scan using "+index) && !strings.Contains(plan, "Index Scan on "+index) {
			t.Errorf("the batch read does not use %s:\n%s", index, plan)
		}
	}
}
