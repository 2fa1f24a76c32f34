package web

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// codesBody is the data of the page that shows recovery codes, once. The
// codes exist only in this response: the server keeps their hashes. Print and
// download post them back and get them as a sheet or a .txt file. The paper
// key, shown beside the codes after the first authenticator, has print and
// download of its own: the page says to keep the two apart, so no sheet or
// file ever holds both.
type codesBody struct {
	Codes    []string
	PaperKey string
	First    bool   // shown right after the first authenticator was confirmed
	Label    string // that authenticator's label
	Username string
	At       time.Time
	// Again is the answer to a later sending of the form that confirmed
	// the first authenticator (confirmedAgain): the codes and the paper key
	// were in the first sending's answer, which the browser may or may not
	// have shown, and stay valid. Asked is set when the holder asked for a
	// new paper key: PaperKey is then the new one, or "" with NoPaperKey
	// saying why none was made. Reissued counts the keys made again so far.
	// Regenerate is the form that makes new codes, with the "confirm it's
	// you" fields when the session needs them; NewPaperKey the form that
	// asks for a new paper key.
	Again       bool
	Asked       bool
	Reissued    int
	NoPaperKey  core.NoPaperKey
	NewPaperKey *confirmBody
	Window      int // core.PaperKeyAgainWindow in minutes
	Regenerate  *confirmBody
	// ByRecoveryCode reports whether a recovery code confirmed it's the
	// holder for making these codes: the page says that code went with
	// the rest of the old set, instead of the count left (regenerate).
	ByRecoveryCode bool
}

func (s *Server) renderCodes(w http.ResponseWriter, r *http.Request, a core.Auth, b codesBody) {
	b.Username, b.At = a.Account.Username, s.svc.Now()
	title := "Your new recovery codes"
	switch {
	case b.Again:
		title = "“" + b.Label + "” is set up"
	case b.First:
		title = "Save your recovery codes"
	}
	s.render(w, r, http.StatusOK, "codes", Page{Title: title, Account: &a.Account, Body: b})
}

// confirmedAgain answers a later sending of a form that confirms an
// authenticator (confirm, confirmSent, claim), u being what core found of
// it: no second confirmation, no code checked. When the first sending
// confirmed the account's first authenticator, its answer held the
// recovery codes and the paper key, which may have been seen (a reload
// sends the form again) or dropped (a double click): nothing is replaced
// (core.ConfirmFound), and the page says that both stay valid and offers
// new recovery codes (regenerate, with its "confirm it's you" fields when
// the session needs them) and a new paper key: the same form sent with
// newPaperKeyField, holding the count of keys made again already, so that
// this request sent again makes no other (core.NewPaperKeyAgain). Else it
// answers as the first sending did.
func (s *Server) confirmedAgain(w http.ResponseWriter, r *http.Request, a core.Auth, u *core.FormUse) {
	if u.Made == "" {
		s.renderSecurity(w, r, a, http.StatusConflict, "", "This form was sent twice, and the first sending had not finished when the second arrived. Look for the authenticator below: once it is listed as active, it is set up.", "")
		return
	}
	var c core.ConfirmAgain
	var err error
	asked := r.PostForm.Has(newPaperKeyField)
	if asked {
		seen, perr := strconv.Atoi(r.PostForm.Get(newPaperKeyField))
		if perr != nil {
			s.renderError(w, r, &a, http.StatusBadRequest, "That request for a new paper key is not one this server made.")
			return
		}
		c, err = s.svc.NewPaperKeyAgain(r.Context(), a, u, httpapi.Meta(r), seen)
	} else {
		c, err = s.svc.ConfirmFound(r.Context(), a, u)
	}
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		http.Redirect(w, r, "/settings/security?m=enrol_gone", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if !c.First {
		http.Redirect(w, r, "/settings/security?m=factor_added", http.StatusSeeOther)
		return
	}
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	self := "/settings/security/recovery-codes"
	b := codesBody{Again: true, First: true, Label: c.Factor.Label, PaperKey: c.PaperKey, NoPaperKey: c.NoPaperKey,
		Asked: asked, Reissued: c.Reissued, Window: int(core.PaperKeyAgainWindow / time.Minute),
		Regenerate: &confirmBody{Action: self, Button: "Generate new recovery codes", Elevation: s.elevationFor(r, a, p, self),
			Fields: map[string]string{onceField: s.onceToken(r, a, onceCodes)}}}
	if c.PaperKey == "" && c.NoPaperKey == "" || c.NoPaperKey == core.NoPaperKeySentAgain {
		b.NewPaperKey = &confirmBody{Action: r.URL.Path, Button: "Make a new paper key",
			Fields: map[string]string{onceField: r.PostForm.Get(onceField), newPaperKeyField: strconv.Itoa(c.Reissued)}}
	}
	s.renderCodes(w, r, a, b)
}

// newPaperKeyField is the field of the request for a new paper key on the
// page of a confirming form sent again (confirmedAgain).
const newPaperKeyField = "new_paper_key"

// regeneratePage asks to confirm replacing the recovery codes.
func (s *Server) regeneratePage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderRegenerate(w, r, a, http.StatusOK, "")
}

func (s *Server) renderRegenerate(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	self := "/settings/security/recovery-codes"
	b := confirmBody{
		Heading: "Generate new recovery codes?", Button: "Generate new codes", Action: self, Cancel: "/settings/security",
		Text: []string{fmt.Sprintf("You will get %d new codes. The %d %s you have left stop working at once.",
			core.RecoveryCodeCount, p.RecoveryCodesRemaining, pluralWord(p.RecoveryCodesRemaining, "code", "codes"))},
		Elevation: s.elevationFor(r, a, p, self),
		Fields:    map[string]string{onceField: s.onceToken(r, a, onceCodes)},
	}
	s.render(w, r, status, "confirm", Page{Title: "New recovery codes", Account: &a.Account, Error: errMsg, Body: b})
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// regenerate replaces the recovery codes (elevated, SPEC §1 story 5) and
// shows the new ones. Its form's one-time token records the sending: sent
// again by the same session (a reload of the page showing the codes, a
// double click without JavaScript), it makes no other codes, which would
// void the ones the holder may be reading, and says the codes were made
// already (codesMadeAgain). Sent again with the cookie from before the
// session's renewal, its answer dropped, the page says that the codes were
// replaced (renderRenewalLost).
func (s *Server) regenerate(w http.ResponseWriter, r *http.Request, a core.Auth) {
	refused := func(err error) { s.renderRegenerate(w, r, a, s.status(w, r, err), message(err)) }
	use, ok := s.once(r, a, onceCodes, refused, func(made string) { s.codesMadeAgain(w, r, a, made) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderRegenerate(w, r, a, s.status(w, r, err), message(err))
		return
	}
	codes, err := s.svc.RegenerateRecoveryCodes(r.Context(), a, httpapi.Meta(r))
	if err != nil {
		s.renderRegenerate(w, r, a, s.status(w, r, err), message(err))
		return
	}
	use.Done(r.Context(), "codes")
	// A recovery code that confirmed it's you leaves a note of the codes
	// left: the new set has just voided them, so the page says that instead.
	s.renderCodes(w, r, a, codesBody{Codes: codes, ByRecoveryCode: s.dropRecoveryNote(w, r)})
}

// codesMadeAgain answers a later sending of the form that makes new
// recovery codes: nothing is replaced. The codes its first sending made
// were in that answer only (the server keeps their hashes), and are the
// ones that work; the page says so, and offers new codes (a form of its
// own, with a new token) to a holder whose browser dropped that answer.
// Were the first sending not finished, the page says so (409).
func (s *Server) codesMadeAgain(w http.ResponseWriter, r *http.Request, a core.Auth, made string) {
	status := http.StatusOK
	text := []string{"This form was sent again (a reload or a double click). Its first sending made new recovery codes and showed them once: " +
		"those are the codes that work now, and they stay valid. Nothing was replaced this time.",
		"If you did not see or save them, generate new ones: the codes made the first time then stop working."}
	if made == "" {
		status = http.StatusConflict
		text = []string{"This form was sent twice, and the first sending had not finished when the second arrived. Nothing was replaced by this one.",
			"Check your security settings: if your recovery codes were replaced and you did not save the new ones, generate new ones."}
	}
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	self := "/settings/security/recovery-codes"
	b := confirmBody{Heading: "Your new recovery codes were made already", Text: text, Button: "Generate new codes", Action: self,
		Cancel: "/settings/security", CancelLabel: "Back to security settings", Elevation: s.elevationFor(r, a, p, self),
		Fields: map[string]string{onceField: s.onceToken(r, a, onceCodes)}}
	s.render(w, r, status, "confirm", Page{Title: "New recovery codes", Account: &a.Account, Body: b})
}

// keyPattern is the shape of recovery codes and paper keys: lower-case
// base32 in groups of four. Only such values are echoed back.
var keyPattern = regexp.MustCompile(`^[a-z2-7]{4}(-[a-z2-7]{1,4}){1,15}$`)

// postedCodes returns the codes a print or download form posted back, or
// false when they do not look like codes, or come with a paper key, which
// goes on a sheet of its own.
func postedCodes(r *http.Request) (codesBody, bool) {
	b := codesBody{Codes: r.PostForm["code"]}
	if len(b.Codes) == 0 || len(b.Codes) > core.RecoveryCodeCount || r.PostForm.Has("paper_key") {
		return b, false
	}
	for _, c := range b.Codes {
		if !keyPattern.MatchString(c) {
			return b, false
		}
	}
	return b, true
}

// postedPaperKey returns the paper key a print or download form posted
// back, or false when it does not look like one, or comes with codes.
func postedPaperKey(r *http.Request) (codesBody, bool) {
	b := codesBody{PaperKey: r.PostForm.Get("paper_key")}
	return b, keyPattern.MatchString(b.PaperKey) && !r.PostForm.Has("code")
}

// downloadCodes returns the posted codes as a .txt attachment.
func (s *Server) downloadCodes(w http.ResponseWriter, r *http.Request, a core.Auth) {
	b, ok := postedCodes(r)
	if !ok {
		s.renderError(w, r, &a, http.StatusBadRequest, "Those are not recovery codes.")
		return
	}
	var t strings.Builder
	fmt.Fprintf(&t, "Twofold recovery codes for %s\nSaved %s\n\n", a.Account.Username, s.svc.Now().Format("2 Jan 2006, 15:04 UTC"))
	t.WriteString("Each code signs you in once, in place of a code from your authenticator app.\nKeep them somewhere safe, away from your phone.\n\n")
	for i, c := range b.Codes {
		fmt.Fprintf(&t, "%2d. %s\n", i+1, c)
	}
	sendText(w, "twofold-recovery-codes-"+safeFilePart(a.Account.Username)+".txt", t.String())
}

// downloadPaperKey returns the posted paper key as a .txt attachment of its own.
func (s *Server) downloadPaperKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	b, ok := postedPaperKey(r)
	if !ok {
		s.renderError(w, r, &a, http.StatusBadRequest, "That is not a paper key.")
		return
	}
	var t strings.Builder
	fmt.Fprintf(&t, "Twofold paper key for %s\nSaved %s\n\n", a.Account.Username, s.svc.Now().Format("2 Jan 2006, 15:04 UTC"))
	t.WriteString("A second way in when your phone is gone: it signs you in in place of a code\nfrom your authenticator app. It is never shown again, not even to an operator.\nKeep it somewhere safe, apart from your recovery codes and your phone.\n\n")
	fmt.Fprintf(&t, "%s\n", b.PaperKey)
	sendText(w, "twofold-paper-key-"+safeFilePart(a.Account.Username)+".txt", t.String())
}

// sendText sends text as a .txt attachment called name, with CRLF line ends
// that every editor shows.
func sendText(w http.ResponseWriter, name, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
}

// printCodes shows the posted codes on a sheet made for printing.
func (s *Server) printCodes(w http.ResponseWriter, r *http.Request, a core.Auth) {
	b, ok := postedCodes(r)
	if !ok {
		s.renderError(w, r, &a, http.StatusBadRequest, "Those are not recovery codes.")
		return
	}
	b.Username, b.At = a.Account.Username, s.svc.Now()
	s.render(w, r, http.StatusOK, "print", Page{Title: "Recovery codes for " + a.Account.Username, Account: &a.Account, Body: b})
}

// printPaperKey shows the posted paper key on a sheet of its own.
func (s *Server) printPaperKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	b, ok := postedPaperKey(r)
	if !ok {
		s.renderError(w, r, &a, http.StatusBadRequest, "That is not a paper key.")
		return
	}
	b.Username, b.At = a.Account.Username, s.svc.Now()
	s.render(w, r, http.StatusOK, "print_paper_key", Page{Title: "Paper key for " + a.Account.Username, Account: &a.Account, Body: b})
}

// safeFilePart keeps the characters of a username that are safe in a file name.
func safeFilePart(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (r == '-' || r == '_' || r == '.' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, s)
}
