package testenv

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// SentCode is a code texted or mailed to one of an account's factors
// that a second-step fuzz target asked for its step, or for another
// sign-in (Elsewhere), kept to judge what the server does with whatever a
// body or form carries: only the code sent for the step by its method may
// pass, once, and a refusal by that method may take one of its checks,
// and of no other code.
type SentCode struct {
	Placeholder      string // what stands for it in a body or form
	Method, FactorID string
	Elsewhere        bool   // sent for another sign-in, not for the step
	Code             string // "" until asked for
	Secret           string // the API's code_secret of the send, for a send again
	Checks           int    // bodies or forms by Method refused since it was sent
	// Live: it was sent for the step's login, session or link and not
	// used, so a refusal by Method may take one of its checks.
	Live bool
}

// Carried reports whether code, as people type it (TypedText), naming
// factor ("" for none), is sc's code, not used yet.
func (sc *SentCode) Carried(code, factor string) bool {
	return sc.Code != "" && (factor == "" || factor == sc.FactorID) && TypedText(code, false) == sc.Code
}

// Refused returns d, the Snapshot's diff of a refusal by method, without
// the check the refusal may have taken from sc (WithoutChecksTaken), and
// counts it, when sc is the live code sent for the step by that method;
// otherwise d as it is.
func (sc *SentCode) Refused(d, method string) string {
	if method != sc.Method || !sc.Live {
		return d
	}
	sc.Checks++
	return WithoutChecksTaken(d)
}

// SentAssertion is a SecurityKey's answer that a second-step fuzz target
// asked for its step's options, or for another sign-in's (Elsewhere),
// kept to judge what the server does with whatever a body or form
// carries: only the step's answer may pass, once, and a refusal may use
// up only the step's ceremony.
type SentAssertion struct {
	Placeholder string          // what stands for it in a body or form
	Elsewhere   bool            // for another sign-in's options, not the step's
	Credential  json.RawMessage // nil until asked for, and once used
	signature   []byte          // the answer's signature
	challenge   string          // of the options it answers
}

// Answer has k answer options, as a browser would, and keeps the answer.
func (a *SentAssertion) Answer(tb testing.TB, k *SecurityKey, options []byte) {
	tb.Helper()
	a.Credential = k.Get(tb, options)
	a.signature, a.challenge = AssertionSignature(a.Credential), parseOptions(tb, options).PublicKey.Challenge
}

// Carried reports whether credential, as a body or form carried it, is
// a's answer, not used yet: the same signature, whatever else the JSON
// around it holds.
func (a *SentAssertion) Carried(credential []byte) bool {
	got := AssertionSignature(credential)
	return a.Credential != nil && got != nil && bytes.Equal(got, a.signature)
}

// WithoutCeremony returns d, a Snapshot's diff, without the removal of
// the ceremony a answered, and forgets a when d had it: any answer, right
// or wrong, uses a security key's ceremony up (README "Security keys"),
// and the next body or form asks anew.
func (a *SentAssertion) WithoutCeremony(d string) string {
	if a.Credential == nil {
		return d
	}
	d, gone := WithoutRowGone(d, "webauthn_ceremonies", "challenge", a.challenge)
	if gone {
		a.Credential = nil
	}
	return d
}

// WithoutRowGone returns d, a Snapshot's diff, without the removal of the
// row of table whose column holds value, and whether d had it.
func WithoutRowGone(d, table, column, value string) (string, bool) {
	lines := strings.Split(d, "\n")
	i := slices.IndexFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "- "+table+":") && strings.Contains(l+" ", " "+column+"="+value+" ")
	})
	if i < 0 {
		return d, false
	}
	return strings.Join(slices.Delete(lines, i, i+1), "\n"), true
}

// AssertionSignature is the signature of a security key's assertion, as a
// browser hands it over (JSON), or nil.
func AssertionSignature(credential []byte) []byte {
	var c struct {
		Response struct {
			Signature string `json:"signature"`
		} `json:"response"`
	}
	if json.Unmarshal(credential, &c) != nil {
		return nil
	}
	text := strings.TrimRight(c.Response.Signature, "=")
	sig, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		sig, err = base64.RawStdEncoding.DecodeString(text) // the other alphabet, should a server take it
	}
	if err != nil || len(sig) == 0 {
		return nil
	}
	return sig
}

// WithoutLastUse returns d, a Snapshot's diff, without the changes to
// API keys' rows that are to their last use alone (recorded at most once
// a minute, whatever the request); any other change to a key's row stays.
func WithoutLastUse(d string) string {
	lines := strings.Split(d, "\n")
	unused := func(l string) string {
		var keep []string
		for _, f := range strings.Fields(l[2:]) {
			if !strings.HasPrefix(f, "last_used") {
				keep = append(keep, f)
			}
		}
		return strings.Join(keep, " ")
	}
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "- api_keys:") {
			continue
		}
		j := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "+ api_keys:") && unused(l) == unused(lines[i]) })
		if j < 0 {
			continue
		}
		lines = slices.Delete(lines, max(i, j), max(i, j)+1)
		lines = slices.Delete(lines, min(i, j), min(i, j)+1)
		i = -1
	}
	return strings.Join(lines, "\n")
}
