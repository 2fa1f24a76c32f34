#!/bin/sh
# Answers ACME DNS-01 challenges through Twofold's DNS API, as certbot's
# manual hooks: "add" puts the challenge's TXT record at _acme-challenge,
# "delete" removes it again (README "DNS API", "Let's Encrypt (DNS-01) with
# certbot").
#
#   certbot certonly --manual --preferred-challenges dns \
#     --manual-auth-hook '/usr/local/bin/certbot-dns-hook.sh add' \
#     --manual-cleanup-hook '/usr/local/bin/certbot-dns-hook.sh delete' \
#     -d example.com -d '*.example.com'
#
# certbot gives CERTBOT_DOMAIN (the name, without "*.") and
# CERTBOT_VALIDATION (the TXT value). The script reads:
#   TWOFOLD_URL       Twofold's address, e.g. https://twofold.example.net
#   TWOFOLD_KEY_FILE  a file (mode 0600) whose first line is the API key as ID:SECRET,
#   or TWOFOLD_KEY    the key itself, ID:SECRET (never give it as an argument:
#                     arguments are visible to every user of the machine)
#   TWOFOLD_TTL       the record's TTL in seconds (default 60)
# The key needs the permit "dns ZONE/_acme-challenge*/TXT write" (or
# "dns ZONE/_acme-challenge/TXT write" for names at the zone's apex only).
# The zone is the longest of the key's zones (GET /dns/v2/zones) that holds
# CERTBOT_DOMAIN. curl sends the key from its standard input, never on its
# command line, and nothing here prints it. On any failure the script exits
# non-zero with Twofold's explanation on standard error.
set -u

me=certbot-dns-hook
fail() {
	printf '%s: %s\n' "$me" "$*" >&2
	exit 1
}

case ${1:-} in
add | delete) action=$1 ;;
*) fail "usage: $me add|delete (as certbot's --manual-auth-hook and --manual-cleanup-hook)" ;;
esac
[ -n "${CERTBOT_DOMAIN:-}" ] || fail "CERTBOT_DOMAIN is not set: run this as a certbot manual hook"
[ -n "${CERTBOT_VALIDATION:-}" ] || fail "CERTBOT_VALIDATION is not set: run this as a certbot manual hook"
[ -n "${TWOFOLD_URL:-}" ] || fail "TWOFOLD_URL is not set: give Twofold's address, e.g. https://twofold.example.net"
base=${TWOFOLD_URL%/}
ttl=${TWOFOLD_TTL:-60}

if [ -n "${TWOFOLD_KEY_FILE:-}" ]; then
	[ -r "$TWOFOLD_KEY_FILE" ] || fail "cannot read TWOFOLD_KEY_FILE $TWOFOLD_KEY_FILE"
	IFS= read -r key <"$TWOFOLD_KEY_FILE" || [ -n "${key:-}" ] || fail "TWOFOLD_KEY_FILE $TWOFOLD_KEY_FILE is empty"
	key=$(printf '%s' "$key" | tr -d '\r')
	keywhere="TWOFOLD_KEY_FILE $TWOFOLD_KEY_FILE"
elif [ -n "${TWOFOLD_KEY:-}" ]; then
	key=$TWOFOLD_KEY
	keywhere=TWOFOLD_KEY
else
	fail "no API key: set TWOFOLD_KEY_FILE (a file holding ID:SECRET) or TWOFOLD_KEY"
fi
# A key is letters and digits, ID:SECRET; anything else could not be put in
# curl's configuration safely, and is not a key.
case $key in
*[!A-Za-z0-9:]* | :* | *: | *:*:* | "") fail "$keywhere does not hold an API key as ID:SECRET" ;;
*:*) ;;
*) fail "$keywhere does not hold an API key as ID:SECRET" ;;
esac

tmp=$(mktemp -d) || fail "cannot make a temporary directory"
trap 'rm -rf "$tmp"' EXIT

# member NAME prints the string member NAME of the problem document in
# $tmp/body, its escapes \" and \\ undone, or nothing.
member() {
	sed -nE 's/.*"'"$1"'":"(([^"\\]|\\.)*)".*/\1/p' "$tmp/body" | sed -e 's/\\"/"/g' -e 's/\\\\/\\/g'
}

# api METHOD PATH [curl options…] sends a request with the key as HTTP
# Basic and leaves the answer's body in $tmp/body; on failure it exits with
# the problem's detail, the input the problem names when it names one (its
# pointer or parameter: ttl for TWOFOLD_TTL, data for CERTBOT_VALIDATION),
# and, for a 403 on a record, the permit the key lacks.
api() {
	method=$1 path=$2
	shift 2
	status=$(printf 'user = "%s"\n' "$key" | curl -sS --fail-with-body --max-time 60 -K - -X "$method" \
		-o "$tmp/body" -w '%{http_code}' "$@" "$base$path" 2>"$tmp/err")
	rc=$?
	[ "$rc" -eq 0 ] && return 0
	if [ "$rc" -eq 22 ]; then # an HTTP error: Twofold says why in a problem document
		detail=$(member detail)
		[ -n "$detail" ] || detail=$(head -c 300 "$tmp/body")
		input=$(member pointer)
		[ -n "$input" ] || input=$(member parameter)
		[ -z "$input" ] || detail="$detail (refused input: $input)"
		if [ "$status" = 403 ] && [ -n "${zone:-}" ]; then
			detail="$detail; the API key needs a permit for TXT records at _acme-challenge.$domain, such as \"dns $zone/_acme-challenge*/TXT write\""
		fi
		fail "$method $path: HTTP $status: $detail"
	fi
	fail "$method $path: $(cat "$tmp/err")"
}

domain=$(printf '%s' "${CERTBOT_DOMAIN%.}" | tr 'A-Z' 'a-z')
api GET /dns/v2/zones
zones=$(sed -e 's/.*\[//' -e 's/\].*//' "$tmp/body" | tr ',' '\n' | tr -d '" ')
zone=
for z in $zones; do
	case $domain in
	"$z" | *."$z") [ ${#z} -gt ${#zone} ] && zone=$z ;;
	esac
done
[ -n "$zone" ] || fail "no zone of this API key holds $domain (the key's zones: $(printf '%s ' $zones | sed 's/ $//'))"

host=_acme-challenge
[ "$domain" = "$zone" ] || host=_acme-challenge.${domain%."$zone"}
path=/dns/v2/zones/$zone/records/$host/TXT
if [ "$action" = add ]; then
	api POST "$path" --data-urlencode "data=$CERTBOT_VALIDATION" --data-urlencode "ttl=$ttl"
else
	api DELETE "$path" --data-urlencode "data=$CERTBOT_VALIDATION"
fi
printf '%s: %s TXT %s in %s: %s\n' "$me" "$action" "$host" "$zone" "$(cat "$tmp/body")"
