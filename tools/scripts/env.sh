# Sourced by setup.sh and test.sh: what building and testing need on this kind of machine.
export NX_DAEMON=false NX_NO_CLOUD=true
# node-gyp builds the addon against the installed Node's own headers (no download).
if [ -d /usr/include/node ] && [ -z "${npm_config_nodedir:-}" ]; then export npm_config_nodedir=/usr; fi
# From Debian when missing: a C++ toolchain for node-gyp (the sampler, better-sqlite3 without a
# prebuilt binary); Go (`go tool pprof`) and Chromium, the real consumers the convert tests feed our
# pprof, speedscope and SVG output to; PostgreSQL, which the server's storage tests start a throwaway
# cluster of (its binaries are under /usr/lib/postgresql/VERSION/bin, not on PATH; the Debian
# package's own cluster is not used); openssl, for the record test's TLS certificate. libunwind-dev,
# linux-perf and binutils: see below.
missing=()
for pair in g++:g++ make:make python3:python3 go:golang-go chromium:chromium perf:linux-perf strip:binutils openssl:openssl; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing+=(postgresql)
# Native frames (vmprof-record --native): libunwind's headers to build the sampler, its library to run
# it; the native tests compare with perf (linux-perf) and strip a library (binutils).
[ -f /usr/include/libunwind.h ] || [ -f /usr/include/x86_64-linux-gnu/libunwind.h ] || missing+=(libunwind-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing from Debian: ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "building and testing need: ${missing[*]} (Debian package names)" >&2
  fi
fi
unset missing pair
