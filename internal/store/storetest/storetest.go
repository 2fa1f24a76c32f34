// Package storetest is the conformance suite of internal/store: one set of
// tests that every dialect must pass (STYLE.md "Tests": the same store suite
// runs on SQLite and PostgreSQL). It is test support only.
package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
)

// Run runs the conformance suite against the stores made by open. Every
// subtest opens its own store, which must be fresh (an empty, migrated
// database) and closed by open's cleanup; subtests run in parallel.
func Run(t *testing.T, open func(testing.TB) *store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, *store.Store)
	}{
		{"Account/RoundTrip", testAccountRoundTrip},
		{"Account/DuplicateUsername", testAccountDuplicateUsername},
		{"Account/NotFound", testAccountNotFound},
		{"Account/ByUsernameFold", testAccountsByUsernameFold},
		{"Account/Search", testAccountSearch},
		{"Account/SearchLimit", testAccountSearchLimit},
		{"Account/Count", testCountAccounts},
		{"Account/SetTwoFactorRequired", testSetTwoFactorRequired},
		{"Account/ReplacePasswordHash", testReplacePasswordHash},
		{"Account/PasswordParamsInUse", testPasswordParamsInUse},
		{"Account/EndSessions", testEndSessions},
		{"Account/SignedIn", testSignedIn},
		{"Account/EndOtherSessions", testEndOtherSessions},
		{"Account/PasswordReset", testPasswordReset},
		{"Account/EmailChange", testEmailChange},
		{"Account/ReplacedEmails", testReplacedEmails},
		{"Account/EmailChangedByOperator", testEmailChangedByOperator},
		{"Account/Flags", testAccountFlags},
		{"Account/Delete", testDeleteAccount},
		{"Account/WritesForAClosedAccount", testWritesForAClosedAccount},
		{"Account/DeletionRules", testDeletionRules},
		{"Setup/FirstAccountAfterDeletion", testFirstAccountAfterDeletion},
		{"Race/DeleteOperators", testRaceDeleteOperators},

		{"Factor/RoundTrip", testFactorRoundTrip},
		{"Factor/Order", testFactorsOrder},
		{"Factor/OfType", testFactorsOfType},
		{"Factor/NotFound", testFactorNotFound},
		{"Factor/ActivateFirst", testActivateFirst},
		{"Factor/ActivateSecond", testActivateSecond},
		{"Factor/ActivateNotPending", testActivateNotPending},
		{"Factor/ActivateAfterReset", testActivateAfterReset},
		{"Factor/AcceptStep", testAcceptStep},
		{"Factor/AcceptStepPending", testAcceptStepPending},
		{"Factor/MarkDamaged", testMarkFactorDamaged},
		{"Factor/ClearDamaged", testClearFactorDamaged},
		{"Factor/SetFactorSync", testSetFactorSync},
		{"Factor/Rename", testRenameFactor},
		{"Factor/DeleteLastActive", testDeleteLastActive},
		{"Factor/DeleteOneOfTwo", testDeleteOneOfTwo},
		{"Factor/DeletePendingBesideActive", testDeletePendingBesideActive},
		{"Factor/DeleteNotFound", testDeleteFactorNotFound},
		{"Factor/DeleteInAnotherStatus", testDeleteFactorInAnotherStatus},
		{"Factor/Reseal", testReseal},
		{"Factor/PendingSession", testFactorPendingSession},

		{"SentCode/Once", testSentCodeOnce},
		{"SentCode/Replaced", testSentCodeReplaced},
		{"SentCode/Restored", testSentCodeRestored},
		{"SentCode/OneRequesterAtATime", testSentCodeOneRequesterAtATime},
		{"SSHKey/RoundTrip", testSSHKeyRoundTrip},
		{"SSHKey/ChallengeOnce", testSSHChallengeOnce},
		{"SSHKey/ChallengeKept", testSSHChallengeKept},
		{"Race/UseSSHChallenge", testRaceUseSSHChallenge},

		{"Push/EnrolOnce", testPushEnrolOnce},
		{"Push/NonceOnce", testPushNonceOnce},
		{"Push/DeviceRequest", testDeviceRequest},
		{"Push/AnswerAndUseOnce", testPushAnswerAndUseOnce},
		{"Push/OneRequesterAtATime", testPushOneRequesterAtATime},
		{"Push/EndedWithSessions", testPushEndedWithSessions},
		{"Push/Unapproved", testPushUnapproved},
		{"SecurityKey/CeremonyOnce", testCeremonyOnce},
		{"SecurityKey/CeremonyKept", testCeremonyKept},
		{"SecurityKey/Activate", testSecurityKeyActivate},
		{"SecurityKey/Counter", testSecurityKeyCounter},
		{"SecurityKey/PasskeyStored", testPasskeyStored},
		{"SecurityKey/PasskeyLoginOnce", testPasskeyLoginOnce},

		{"Recovery/UseOnce", testUseRecoveryCodeOnce},
		{"Recovery/Replace", testReplaceRecoveryCodes},
		{"Recovery/ReplaceAtOnce", testReplaceRecoveryCodesAtOnce},
		{"Recovery/ReplaceLastFactorGone", testReplaceRecoveryCodesLastFactorGone},
		{"Recovery/NoPaperKey", testNoPaperKey},
		{"Recovery/ReplacePaperKey", testReplacePaperKey},

		{"Login/RoundTrip", testLoginRoundTrip},
		{"Login/FinishOnce", testFinishLoginOnce},
		{"Login/FinishExpired", testFinishLoginExpired},
		{"Login/FinishUnknown", testFinishLoginUnknown},

		{"Session/Expiry", testSessionExpiry},
		{"Session/Elevate", testElevateSession},
		{"Session/Renew", testRenewSession},
		{"Session/EndByToken", testEndSessionByToken},
		{"Session/EndRenewed", testEndRenewedSession},
		{"Session/Delete", testDeleteSession},
		{"Session/DeleteExpired", testDeleteExpired},
		{"Session/FormOnce", testFormOnce},
		{"Session/Hold", testHoldSession},

		{"DataKeys", testDataKeys},

		{"Audit/RoundTrip", testEventRoundTrip},
		{"Audit/Pages", testEventPages},
		{"Audit/ForwardNeverSkips", testEventsForwardNeverSkip},
		{"Audit/LiveSessions", testLiveSessions},
		{"Audit/LiveSessionsClockBack", testLiveSessionsClockBack},
		{"Audit/LiveSessionsAnySkew", testLiveSessionsAnySkew},
		{"Audit/Filter", testEventFilter},

		{"Setup/FirstAccount", testFirstAccount},
		{"Setup/TokenValid", testSetupTokenValid},
		{"Setup/OneOffer", testSetupOneOffer},

		{"SecondStep/Read", testSecondStepRead},
		{"SecondStep/Complete", testCompleteSecondStep},
		{"SecondStep/Decide", testDecideSecondStep},
		{"SecondStep/DecideBucket", testDecideSecondStepBucket},
		{"Throttle/DeleteStale", testDeleteStaleThrottles},
		{"Throttle/TakeTokenClockBack", testTakeTokenClockBack},
		{"Reset/TwoFactor", testTwoFactorReset},
		{"Reset/NotOfSuspended", testNoResetOfSuspended},
		{"Reset/Withdrawn", testResetWithdrawn},
		{"Reset/UseOutlivesRows", testResetUseOutlivesRows},

		{"APIKey/RoundTrip", testAPIKeyRoundTrip},
		{"APIKey/RevokeTakesItsKeys", testAPIKeyRevokeTakesItsKeys},
		{"APIKey/Touch", testAPIKeyTouch},
		{"APIKey/Tokens", testAPITokens},
		{"APIKey/MakerGone", testAPIKeyMakerGone},
		{"APIKey/Hold", testHoldAPIKey},
		{"Locks/NeedATransaction", testLocksNeedATransaction},

		{"Token/RoundTrip", testTokenRoundTrip},
		{"Token/ImportAllOrNothing", testTokenImportAllOrNothing},
		{"Token/ImportSeedOnce", testTokenImportSeedOnce},
		{"Token/Claim", testTokenClaim},
		{"Token/SealedValues", testTokenSealedValues},
		{"Token/DigestBackfill", testTokenDigestBackfill},

		{"DNS/ZoneRoundTrip", testZoneRoundTrip},
		{"DNS/ZoneOf", testZoneOf},
		{"DNS/ZoneDelete", testZoneDelete},
		{"DNS/ZoneSerial", testZoneSerial},
		{"DNS/Records", testRecords},
		{"DNS/RecordSizes", testRecordSizes},
		{"DNS/RecordPageStarts", testRecordPageStarts},
		{"DNS/RecordsTxRollback", testRecordsTxRollback},

		{"Team/RoundTrip", testTeamRoundTrip},
		{"Team/ChangesDecidedOnRoles", testTeamChangesDecidedOnRoles},
		{"Team/Summaries", testTeamSummaries},
		{"Team/RemovedMemberTakesZones", testTeamRemovedMemberTakesZones},
		{"Race/TeamOwners", testRaceTeamOwners},
		{"Team/Invitations", testInvitationRoundTrip},
		{"Team/InvitationUnlessRequired", testInvitationUnlessRequired},
		{"Race/InvitationAccept", testRaceInvitationAccept},
		{"Race/TeamLimits", testRaceTeamLimits},

		{"Race/AcceptStep", testRaceAcceptStep},
		{"Race/CompleteSecondStep", testRaceCompleteSecondStep},
		{"Race/DecideSecondStep", testRaceDecideSecondStep},
		{"Race/BatchFailsAlone", testBatchFailsAlone},
		{"Batch/ManyAccounts", testBatchManyAccounts},
		{"Batch/SameAccount", testBatchSameAccount},
		{"Batch/Mixed", testBatchMixed},
		{"Batch/OneAddress", testBatchOneAddress},
		{"Batch/TwoAddresses", testBatchTwoAddresses},
		{"Race/BatchLocks", testBatchLocksRace},
		{"Race/BatchOverlap", testBatchOverlapRace},
		{"Race/UseRecoveryCode", testRaceUseRecoveryCode},
		{"Race/UseSentCode", testRaceUseSentCode},
		{"Race/TakeCeremony", testRaceTakeCeremony},
		{"Race/TakePasskeyLogin", testRaceTakePasskeyLogin},
		{"Race/FinishLogin", testRaceFinishLogin},
		{"Race/ActivateFactor", testRaceActivateFactor},
		{"Race/DeleteFactor", testRaceDeleteFactor},
		{"Race/FirstAccount", testRaceFirstAccount},
		{"Race/SetupOffer", testRaceSetupOffer},
		{"Race/ResetTwoFactor", testRaceResetTwoFactor},
		{"Race/ResetAgainstUse", testRaceResetAgainstUse},
		{"Race/ClaimToken", testRaceClaimToken},
		{"Race/LockZone", testRaceLockZone},

		{"Webhook/FeedConcurrent", testWebhookFeedConcurrent},
		{"Webhook/Lease", testWebhookLease},
		{"Webhook/Backlog", testWebhookBacklog},
		{"Webhook/SealedValues", testWebhookSealedValues},
		{"Webhook/PreviousSecret", testWebhookPreviousSecret},
		{"Webhook/EndedKeys", testWebhookEndedKeys},
		{"Webhook/DisabledReason", testWebhookDisabledReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// t0 is the suite's fixed "now": whole microseconds, UTC, as the store keeps times.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// wantCode fails unless err carries code.
func wantCode(tb testing.TB, what string, err error, want twofold.Code) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("%s: got no error, want code %q", what, want)
	}
	if got := twofold.ErrorCode(err); got != want {
		tb.Fatalf("%s: got code %q (%v), want %q", what, got, err, want)
	}
}

// newAccount creates the account username, with id "acct-"+username.
func newAccount(tb testing.TB, s *store.Store, username string) twofold.Account {
	tb.Helper()
	a := twofold.Account{
		ID:           "acct-" + username,
		Username:     username,
		Email:        username + "@example.com",
		PasswordHash: "$argon2id$v=19$" + username,
		CreatedAt:    t0,
	}
	if err := s.CreateAccount(tb.Context(), a); err != nil {
		tb.Fatalf("CreateAccount(%q): %v", username, err)
	}
	ensureDataKeys(tb, s)
	return a
}

// ensureDataKeys stores the data keys the factors of this suite are sealed
// under: a factor's key id must name a stored data key.
func ensureDataKeys(tb testing.TB, s *store.Store) {
	tb.Helper()
	have, err := s.DataKeys(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	if len(have) > 0 {
		return
	}
	for _, id := range []string{"key-1", "key-2", "key-3", "key-7"} {
		if err := s.AddDataKey(tb.Context(), keyring.WrappedKey{ID: id, MasterID: "m", Wrapped: []byte("wrapped " + id), Created: t0}); err != nil {
			tb.Fatalf("AddDataKey(%q): %v", id, err)
		}
	}
}

// pendingFactor returns a pending TOTP factor id of accountID created at created.
func pendingFactor(accountID, id string, created time.Time) twofold.Factor {
	return twofold.Factor{
		ID:           id,
		AccountID:    accountID,
		Type:         twofold.FactorTOTP,
		Label:        "phone " + id,
		Status:       twofold.FactorPending,
		SecretKeyID:  "key-1",
		SealedSecret: []byte("sealed:" + id),
		Algorithm:    "SHA1",
		Digits:       6,
		Period:       30 * time.Second,
		LastStep:     -1,
		CreatedAt:    created,
	}
}

// newFactor stores a pending factor id of accountID.
func newFactor(tb testing.TB, s *store.Store, accountID, id string) twofold.Factor {
	tb.Helper()
	f := pendingFactor(accountID, id, t0)
	if err := s.CreateFactor(tb.Context(), f); err != nil {
		tb.Fatalf("CreateFactor(%q): %v", id, err)
	}
	return f
}

// codes returns n distinct recovery code hashes named after set.
func codes(set string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s-code-%d", set, i)
	}
	return out
}

// activation confirms factorID at step, carrying recovery codes and a paper
// key named after set.
func activation(accountID, factorID string, step int64, set string) twofold.Activation {
	return twofold.Activation{
		AccountID:      accountID,
		FactorID:       factorID,
		Step:           step,
		Drift:          1,
		Now:            t0.Add(time.Minute),
		RecoveryHashes: codes(set, 3),
		PaperKeyHash:   []byte("paper-" + set),
	}
}

// activate runs ActivateFactor, which must succeed, and returns whether it was first.
func activate(tb testing.TB, s *store.Store, a twofold.Activation) (first bool) {
	tb.Helper()
	ok, first, err := s.ActivateFactor(tb.Context(), a)
	if err != nil {
		tb.Fatalf("ActivateFactor(%q): %v", a.FactorID, err)
	}
	if !ok {
		tb.Fatalf("ActivateFactor(%q): got ok=false, want true", a.FactorID)
	}
	return first
}

// activeFactor stores factor id of accountID and activates it at step with the
// codes of set.
func activeFactor(tb testing.TB, s *store.Store, accountID, id string, step int64, set string) {
	tb.Helper()
	newFactor(tb, s, accountID, id)
	activate(tb, s, activation(accountID, id, step, set))
}

// getAccount reads account id back.
func getAccount(tb testing.TB, s *store.Store, id string) twofold.Account {
	tb.Helper()
	a, err := s.AccountByID(tb.Context(), id)
	if err != nil {
		tb.Fatalf("AccountByID(%q): %v", id, err)
	}
	return a
}

// getFactor reads factor id of accountID back.
func getFactor(tb testing.TB, s *store.Store, accountID, id string) twofold.Factor {
	tb.Helper()
	f, err := s.Factor(tb.Context(), accountID, id)
	if err != nil {
		tb.Fatalf("Factor(%q): %v", id, err)
	}
	return f
}

// twoFactor is an account's two-factor state outside its factors.
type twoFactor struct {
	Required  bool
	Remaining int
	PaperKey  []byte
}

// twoFactorState reads the account's two-factor state.
func twoFactorState(tb testing.TB, s *store.Store, accountID string) twoFactor {
	tb.Helper()
	ctx := tb.Context()
	n, err := s.RecoveryCodesRemaining(ctx, accountID)
	if err != nil {
		tb.Fatalf("RecoveryCodesRemaining: %v", err)
	}
	pk, err := s.PaperKeyHash(ctx, accountID)
	if err != nil {
		tb.Fatalf("PaperKeyHash: %v", err)
	}
	return twoFactor{Required: getAccount(tb, s, accountID).TwoFactorRequired, Remaining: n, PaperKey: pk}
}

// wantTwoFactor fails unless the account's two-factor state is want.
func wantTwoFactor(tb testing.TB, s *store.Store, accountID string, want twoFactor) {
	tb.Helper()
	if diff := cmp.Diff(want, twoFactorState(tb, s, accountID)); diff != "" {
		tb.Fatalf("two-factor state of %s (-want +got):\n%s", accountID, diff)
	}
}

// useCode runs UseRecoveryCode and returns whether it was accepted.
func useCode(tb testing.TB, s *store.Store, accountID string, hash []byte) bool {
	tb.Helper()
	ok, err := s.UseRecoveryCode(tb.Context(), accountID, hash, t0.Add(time.Hour))
	if err != nil {
		tb.Fatalf("UseRecoveryCode(%q): %v", hash, err)
	}
	return ok
}
