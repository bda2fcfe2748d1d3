#!/usr/bin/env bash
# Builds ngx_http_reftoken_module.so against the distribution's nginx, the way Debian builds its
# own dynamic modules (dh_nginx's nginx_mod build system): nginx's configure from the nginx-dev
# sources, run with the configure flags the installed nginx was built with (`nginx -V`; they
# decide the module's binary signature), then `make modules`.
#
#   bindings/nginx/build.sh [OUT_DIR]     default OUT_DIR: target/nginx (under the repository)
#
# Leaves OUT_DIR/ngx_http_reftoken_module.so. The nginx sources are copied into OUT_DIR first,
# because configure writes into the tree it runs in. Environment: NGINX (default nginx),
# NGINX_SRC (default /usr/share/nginx/src, from the nginx-dev package), REFTOKEN_LIB_DIR
# (default target/release), REFTOKEN_RPATH=1 to record REFTOKEN_LIB_DIR as the run path,
# EXTRA_CFLAGS (added to nginx's flags, e.g. -fsanitize=address).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$root/target/nginx}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
nginx_bin="${NGINX:-nginx}"
src="${NGINX_SRC:-/usr/share/nginx/src}"

[ -x "$src/configure" ] || { echo "build.sh: no nginx sources in $src (install nginx-dev)" >&2; exit 1; }
[ -e "$root/target/release/libreftoken.so" ] || [ -n "${REFTOKEN_LIB_DIR:-}" ] ||
  { echo "build.sh: build libreftoken first (cargo build --release)" >&2; exit 1; }

# The installed nginx's configure line: its flags, with this module added.
conf_line="$("$nginx_bin" -V 2>&1 | sed -n 's/^configure arguments: //p')"
[ -n "$conf_line" ] || { echo "build.sh: cannot read the configure arguments of $nginx_bin -V" >&2; exit 1; }
eval "flags=($conf_line)"
cc_opt="" ld_opt=""
args=()
for f in "${flags[@]}"; do
  case "$f" in
    --with-cc-opt=*) cc_opt="${f#--with-cc-opt=}" ;;
    --with-ld-opt=*) ld_opt="${f#--with-ld-opt=}" ;;
    # Other dynamic modules of the distribution are not rebuilt (and need more headers).
    --with-*=dynamic|--add-dynamic-module=*|--add-module=*) ;;
    *) args+=("$f") ;;
  esac
done

tree="$out/nginx-src"
stamp="$out/configure.stamp"
want="$conf_line|${EXTRA_CFLAGS:-}|${REFTOKEN_LIB_DIR:-}|${REFTOKEN_RPATH:-}|$(cat "$here/config")"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -f "$tree/objs/Makefile" ]; then
  rm -rf "$tree"
  cp -a "$src" "$tree"
  (cd "$tree" && ./configure --with-cc-opt="$cc_opt ${EXTRA_CFLAGS:-}" --with-ld-opt="$ld_opt ${EXTRA_CFLAGS:-}" \
      "${args[@]}" --add-dynamic-module="$here" >"$out/configure.log" 2>&1) ||
    { tail -30 "$out/configure.log" >&2; echo "build.sh: configure failed (log: $out/configure.log)" >&2; exit 1; }
  printf '%s' "$want" >"$stamp"
fi
make -s -C "$tree" -f objs/Makefile modules >"$out/make.log" 2>&1 ||
  { cat "$out/make.log" >&2; echo "build.sh: make modules failed" >&2; exit 1; }
cp "$tree/objs/ngx_http_reftoken_module.so" "$out/ngx_http_reftoken_module.so"
echo "$out/ngx_http_reftoken_module.so"
