# Sourced by setup.sh and test.sh: what building and testing need on this kind of machine.
export NX_DAEMON=false NX_NO_CLOUD=true
# node-gyp builds the addon against the installed Node's own headers (no download).
if [ -d /usr/include/node ] && [ -z "${npm_config_nodedir:-}" ]; then export npm_config_nodedir=/usr; fi
# A C++ toolchain for node-gyp, from Debian when missing.
if ! command -v g++ >/dev/null || ! command -v make >/dev/null || ! command -v python3 >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ make python3 >/dev/null
  else
    echo "building the sampler needs g++, make and python3" >&2
  fi
fi
