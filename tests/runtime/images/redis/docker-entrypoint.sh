#!/bin/sh
# The official redis image's entrypoint, in short: flags alone mean redis-server; as root, own /data and drop
# to the redis user (setpriv instead of gosu); protected mode off unless a config file or flag sets it (the
# official image builds Redis with it off: the container's network is the boundary).
set -e
case "$1" in -*|*.conf) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ]; then
  case "$2 $*" in *.conf\ *|*--protected-mode*) ;; *) set -- "$@" --protected-mode no ;; esac
fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
exec "$@"
