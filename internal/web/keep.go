package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/twofold/twofold/internal/core"
)

// keptParam is the query parameter that carries, sealed, what the user
// typed on a page across the "confirm it's you" round trip: its links to
// the other methods and the return of its buttons. What a form keeps may
// be a phone number, an SSH key, a webhook URL whose query holds the
// receiver's token or an API key's permits: in the address in clear it
// would land in the browser's history and in the logs of every proxy on
// the way. Sealed, the address holds only ciphertext that this browser's
// session alone opens, once it is signed in (authed opens it, after the
// session was checked: a page that sends a browser to sign in carries it
// on sealed).
const keptParam = "kept"

// sealKeep seals v for the session a: AES-256-GCM under a key derived from
// the key file's hash key (the same on every instance sharing the key
// file, and kept by key rotation), with the session's id as additional
// data, so that the value opens for this session only (whose cookie a
// renewal or a "confirm it's you" changes, not its id) and is worthless
// once it ends. "" when there is nothing to keep.
func (s *Server) sealKeep(a core.Auth, v url.Values) string {
	if len(v) == 0 {
		return ""
	}
	aead := s.keepAEAD()
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(v.Encode())+aead.Overhead())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(v.Encode()), keepData(a)))
}

// openKeep opens a value of sealKeep for the session a: nil when sealed is
// empty, malformed, altered, or sealed for another session (or another
// key file).
func (s *Server) openKeep(a core.Auth, sealed string) url.Values {
	if sealed == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	aead := s.keepAEAD()
	if err != nil || len(b) < aead.NonceSize()+aead.Overhead() {
		return nil
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], keepData(a))
	if err != nil {
		return nil
	}
	v, err := url.ParseQuery(string(plain))
	if err != nil {
		return nil
	}
	return v
}

// keepAEAD is the cipher of sealKeep.
func (s *Server) keepAEAD() cipher.AEAD {
	block, err := aes.NewCipher(s.hasher.Sum("web-keep-key", ""))
	if err != nil { // a SHA-256 sum is always a valid AES-256 key
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// keepData binds a sealed value to the session a.
func keepData(a core.Auth) []byte {
	return []byte("keep|" + a.Account.ID + "|" + a.Session.ID)
}

// unsealQuery replaces a sealed kept parameter of r's query with the fields
// it holds, so that the page of the signed-in session a reads them as if
// the address carried them. One that does not open for this session is
// dropped: the page shows without the typing, and the flow goes on.
func (s *Server) unsealQuery(r *http.Request, a core.Auth) {
	q := r.URL.Query()
	if !q.Has(keptParam) {
		return
	}
	kept := s.openKeep(a, q.Get(keptParam))
	q.Del(keptParam)
	for name, vs := range kept {
		if !reservedField(name) && len(vs) > 0 {
			q.Set(name, vs[0])
		}
	}
	r.URL.RawQuery = q.Encode()
}
