package web

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/otp"
)

// adminTokensBody is the data of the operators' page of hardware tokens.
type adminTokensBody struct {
	Tokens    []twofold.HardwareToken
	Unclaimed bool // only the unclaimed are listed
	Claimed   int  // of all tokens, how many are claimed
	Format    string
	Seeds     string // what was pasted, kept when the form comes back
	// Of the operator: importing needs their own two-factor and a fresh
	// second factor, as other operator changes do.
	OperatorEnabled bool
	// Elevation is the import form's "confirm it's you" fields, nil while
	// the session is elevated. Its links to the other ways of confirming
	// carry the format only: the seed file holds secrets, never put in a
	// URL, so it is pasted again after switching.
	Elevation *elevationBody
}

func (s *Server) adminTokens(w http.ResponseWriter, r *http.Request, a core.Auth) {
	q := r.URL.Query()
	b := adminTokensBody{Unclaimed: q.Get("unclaimed") != "", Format: "csv"}
	if q.Get("format") == "pskc" { // the form's format, when its "confirm it's you" method was switched
		b.Format = "pskc"
	}
	s.renderAdminTokens(w, r, a, http.StatusOK, b, notice(r), "")
}

func (s *Server) renderAdminTokens(w http.ResponseWriter, r *http.Request, a core.Auth, status int, b adminTokensBody, notice, errMsg string) {
	all, err := s.svc.HardwareTokensFor(r.Context(), a, false)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	for _, t := range all {
		if t.ClaimedBy != "" {
			b.Claimed++
		}
		if !b.Unclaimed || t.ClaimedBy == "" {
			b.Tokens = append(b.Tokens, t)
		}
	}
	me, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.OperatorEnabled = me.Enabled
	if b.Elevation = s.elevationFor(r, a, me, "/admin/tokens"); b.Elevation != nil {
		b.Elevation.Keep = url.Values{"format": {b.Format}}
	}
	s.render(w, r, status, "admin_tokens", Page{Title: "Hardware tokens", Account: &a.Account, Notice: notice, Error: errMsg, Body: b})
}

// adminImportTokens imports the seeds pasted into the form: an OATH CSV
// file, or a PSKC file with its pre-shared key when it is encrypted. All or
// nothing, as `twofold tokens import`, which also takes files larger than a
// form does. The file is read before the operator's code is checked, so
// that a file that cannot be read spends no code.
func (s *Server) adminImportTokens(w http.ResponseWriter, r *http.Request, a core.Auth) {
	f := r.PostForm
	b := adminTokensBody{Format: f.Get("format"), Seeds: f.Get("seeds")}
	again := func(err error) { s.renderAdminTokens(w, r, a, s.status(w, r, err), b, "", message(err)) }
	var psk []byte
	if k := strings.TrimSpace(f.Get("pskc_key")); k != "" {
		var err error
		if psk, err = hex.DecodeString(k); err != nil || len(psk) != 16 {
			markInvalid(r, "pskc_key")
			again(twofold.Errorf(twofold.CodeInvalid, "the PSKC key must be 32 hexadecimal digits (AES-128)"))
			return
		}
		defer clear(psk)
	}
	var seeds []otp.Seed
	var err error
	switch b.Format {
	case "pskc":
		seeds, err = otp.ParsePSKC([]byte(b.Seeds), psk)
	case "csv":
		if psk != nil {
			markInvalid(r, "pskc_key")
			again(twofold.Errorf(twofold.CodeInvalid, "a PSKC key was given for a CSV file: leave it empty"))
			return
		}
		seeds, err = otp.ParseOATHCSV([]byte(b.Seeds))
	default:
		err = twofold.Errorf(twofold.CodeInvalid, "choose the file's format: OATH CSV or PSKC")
		markInvalid(r, "format")
	}
	if err != nil {
		if markedInvalid(r) == "" {
			markInvalid(r, "seeds")
		}
		if twofold.ErrorCode(err) == twofold.CodeInternal {
			err = twofold.Errorf(twofold.CodeInvalid, "nothing was imported: %v", err)
		}
		again(err)
		return
	}
	var n core.TokenImport
	if err = s.elevateFromForm(w, r, &a); err == nil {
		n, err = s.svc.ImportTokensFor(r.Context(), a, seeds, httpapi.Meta(r))
	}
	for i := range seeds {
		clear(seeds[i].Secret)
	}
	if markedInvalid(r) == "" && (twofold.ErrorCode(err) == twofold.CodeInvalid || twofold.ErrorCode(err) == twofold.CodeConflict) {
		markInvalid(r, "seeds") // a serial twice, or imported already
	}
	if err != nil {
		again(err)
		return
	}
	s.renderAdminTokens(w, r, a, http.StatusOK, adminTokensBody{Format: "csv"},
		fmt.Sprintf("%d hardware %s imported (%d HOTP, %d TOTP). Each can now be added by its holder, by serial and code.", n.Total(), pluralWord(n.Total(), "token", "tokens"), n.HOTP, n.TOTP), "")
}
