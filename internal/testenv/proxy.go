package testenv

import "net/http"

// ProxyOrigin is the public origin ProxyHeaders forward.
const ProxyOrigin = "https://public.example"

// ProxyHeaders returns what a proxy that rewrites Host forwards for a
// client at 203.0.113.7 that reached ProxyOrigin: xfh as X-Forwarded-For,
// -Proto and -Host, fwd as one Forwarded header (RFC 7239). Each call
// returns new headers.
func ProxyHeaders() (xfh, fwd http.Header) {
	return http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"public.example"}, "X-Forwarded-For": {"203.0.113.7"}},
		http.Header{"Forwarded": {`for=203.0.113.7;proto=https;host=public.example`}}
}

// WithOrigin returns a copy of h with Origin set to origin, as a browser
// that sends no Sec-Fetch-Site posts it.
func WithOrigin(h http.Header, origin string) http.Header {
	h = h.Clone()
	h.Set("Origin", origin)
	return h
}
