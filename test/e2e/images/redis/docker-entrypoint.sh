#!/bin/sh
# e2e stand-in of the official redis image's entrypoint on Debian's redis-server.
set -e
# first arg is a flag or a .conf file: run redis-server with it
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
  find . \! -user redis -exec chown redis '{}' + || :
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
# the official image turns protected mode off unless a config file or the flag says otherwise
if [ "$1" = 'redis-server' ]; then
  case " $* " in
    *' --protected-mode '*|*.conf*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
fi
umask 0077
exec "$@"
