package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// confirmBody is the data of a confirmation page: a sensitive change, asked
// once more, with a code field when the session needs elevation first.
type confirmBody struct {
	Heading string
	Text    []string
	Warning string
	Action  string            // the form's POST URL
	Fields  map[string]string // hidden fields
	// AskLabel shows a field for a factor's name, holding Label.
	AskLabel bool
	Label    string
	Button   string
	Danger   bool
	Cancel   string
	// CancelLabel names the way back when "Cancel" would be ambiguous.
	CancelLabel string
	Elevation   *elevationBody // nil when the session is elevated
}

// elevationBody is the "confirm it's you" part of a form (SPEC §3.1 elevation).
type elevationBody struct {
	Method       twofold.Method
	Alternatives []twofold.Method
	// Of an sms or email method: the factor the code is sent to, its name,
	// and whether a code was sent for this page.
	FactorID, FactorLabel string
	Sent                  bool
	// Number is, after a push was sent for this page, the number to type
	// on the device (push.go).
	Number string
	// KeyOptions are, for webauthn, the options of an assertion for this
	// session's elevation; "" when none could be had.
	KeyOptions string
	Self       string // this page, for links to the other methods
	// Keep is what the user typed on this page that the links to the other
	// methods carry along, so that switching methods loses none of it.
	Keep url.Values
}

// Href returns the link to this page asking for method m, with Keep.
func (e *elevationBody) Href(m twofold.Method) string {
	href := e.Self + "?method=" + url.QueryEscape(string(m))
	if len(e.Keep) > 0 {
		href += "&" + e.Keep.Encode()
	}
	return href
}

// elevationFor returns the code field for a confirmation page, or nil when
// the session is still elevated. The method comes from ?method=.
func (s *Server) elevationFor(r *http.Request, a core.Auth, p core.Profile, self string) *elevationBody {
	if a.Elevated(s.svc.Now()) || !p.Enabled {
		return nil
	}
	var have []twofold.Method
	sends := map[twofold.Method]twofold.Factor{} // the factor each code-sending method uses
	for _, t := range []twofold.FactorType{twofold.FactorTOTP, twofold.FactorHOTP, twofold.FactorWebAuthn, twofold.FactorSMS, twofold.FactorEmail, twofold.FactorPush} {
		for _, f := range p.Factors {
			if f.Status == twofold.FactorActive && f.Type == t {
				have = append(have, twofold.Method(t))
				if t.SendsCodes() || t == twofold.FactorPush {
					sends[twofold.Method(t)] = f
				}
				break
			}
		}
	}
	if p.RecoveryCodesRemaining > 0 {
		have = append(have, twofold.MethodRecoveryCode)
	}
	if p.PaperKey || len(have) == 0 {
		have = append(have, twofold.MethodPaperKey)
	}
	want := twofold.Method(r.FormValue("method"))
	if want == "" {
		want = twofold.Method(r.FormValue("elevate_method"))
	}
	e := &elevationBody{Method: have[0], Self: self}
	for _, m := range have {
		if m == want {
			e.Method = m
		}
	}
	for _, m := range have {
		if m != e.Method {
			e.Alternatives = append(e.Alternatives, m)
		}
	}
	if f, ok := sends[e.Method]; ok {
		e.FactorID, e.FactorLabel, e.Sent = f.ID, f.Label, r.FormValue("sent") == "1"
	}
	if e.Method == twofold.MethodPush && e.Sent {
		e.Number = s.pushNumber(r)
	}
	if e.Method == twofold.MethodWebAuthn {
		e.KeyOptions = s.keyOptions(r, "", &a)
	}
	return e
}

// elevateFromForm elevates a's session with the form's code, when the form
// has one and the session needs it, and updates a to match.
func (s *Server) elevateFromForm(r *http.Request, a *core.Auth) error {
	code, credential := r.PostForm.Get("elevate_code"), r.PostForm.Get("elevate_credential")
	method := twofold.Method(r.PostForm.Get("elevate_method"))
	push := method == twofold.MethodPush && r.PostForm.Get("elevate_push") != "" // "I approved it"
	if (code == "" && credential == "" && !push) || a.Elevated(s.svc.Now()) {
		return nil
	}
	if push {
		code = ""
	}
	p := core.SecondFactor{Method: method, FactorID: r.PostForm.Get("elevate_factor"), Code: code, Credential: []byte(credential)}
	until, err := s.svc.Elevate(r.Context(), *a, p, httpapi.Meta(r))
	if err != nil {
		return err
	}
	a.Session.ElevatedUntil = until
	return nil
}

// sendElevationCode texts or emails a code to confirm it's the holder, from
// the "Text me a code" button of a page's "confirm it's you" fields, and
// goes back to that page, which then asks for the code.
func (s *Server) sendElevationCode(w http.ResponseWriter, r *http.Request, a core.Auth) {
	back := safeNext(r.PostForm.Get("return"))
	if back == "" {
		back = "/settings/security"
	}
	_, err := s.svc.ChallengeElevation(r.Context(), a, twofold.Method(r.PostForm.Get("elevate_method")), r.PostForm.Get("elevate_factor"), httpapi.Meta(r))
	if err != nil {
		s.renderError(w, r, &a, s.status(w, r, err), message(err))
		return
	}
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+"sent=1", http.StatusSeeOther)
}
