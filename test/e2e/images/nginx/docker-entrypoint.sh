#!/bin/sh
# e2e stand-in of the nginx image's entrypoint: run /docker-entrypoint.d/*.sh, then nginx.
set -e
if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
  for f in /docker-entrypoint.d/*.sh; do
    [ -e "$f" ] || continue
    if [ -x "$f" ]; then echo "$0: launching $f"; "$f"; else echo "$0: ignoring $f, not executable"; fi
  done
  echo "$0: configuration complete; ready for start up"
fi
exec "$@"
