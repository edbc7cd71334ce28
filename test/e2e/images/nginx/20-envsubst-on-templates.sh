#!/bin/sh
# e2e stand-in of the nginx image's template step: /etc/nginx/templates/*.template ->
# /etc/nginx/conf.d/*, substituting only variables that are defined.
set -e
dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
out="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
[ -d "$dir" ] || exit 0
filter="${NGINX_ENVSUBST_FILTER:-}"
# only the variables that are set (and match NGINX_ENVSUBST_FILTER): other $names stay nginx variables
defined=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" < /dev/null))
find "$dir" -follow -type f -name "*$suffix" -print | while read -r template; do
  rel="${template#"$dir/"}"
  target="$out/${rel%"$suffix"}"
  if [ ! -w "$out" ]; then echo "$0: $out is not writable, skipping $template"; continue; fi
  mkdir -p "$(dirname "$target")"
  echo "$0: running envsubst on $template to $target"
  envsubst "$defined" < "$template" > "$target"
done
