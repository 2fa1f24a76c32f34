#!/usr/bin/env bash
# Runs Twofold's whole test suite: installs the third-party tools the tests
# drive (oathtool, zbarimg, Chromium, curl, certbot, the openstack CLI),
# makes sure PostgreSQL answers, checks formatting, vet and staticcheck, then
# runs every test on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v oathtool >/dev/null || need+=(oathtool)
command -v zbarimg >/dev/null || need+=(zbar-tools)
command -v chromium >/dev/null || need+=(chromium)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
command -v certbot >/dev/null || need+=(certbot)
command -v openstack >/dev/null || need+=(python3-openstackclient)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

export TWOFOLD_TEST_POSTGRES="${TWOFOLD_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
fi
if ! pg_up; then
  if [ -n "${CI:-}" ]; then
    echo "PostgreSQL does not answer at 127.0.0.1:5432; CI must run the PostgreSQL half of the suite" >&2
    exit 1
  fi
  echo "warning: PostgreSQL does not answer at 127.0.0.1:5432: its half of the suite is skipped" >&2
  unset TWOFOLD_TEST_POSTGRES
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt: these files are not formatted:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
# staticcheck at a pinned version, run from the module proxy so that go.mod
# does not carry a tool the server never links.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
# A package takes 2 to 6 minutes on a quiet machine; the bound is for a hung
# test, and leaves room for a machine busy with other work.
go test -count=1 -timeout 45m "$@" ./...
