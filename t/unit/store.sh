#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# store.sh - run t/unit/t_store against a private redis-server on a unix
# socket. t_store starts its own extra servers (password, restart, TCP)
# in the same temp dir. Not exec'd, so that the exit trap of t/lib.sh
# still stops redis; t_store's TAP is the only output.

. "${top_srcdir:-.}/t/lib.sh"

dir=$(nm_tmpdir store)
nm_redis_start "$dir"
REDIS_SERVER=${REDIS_SERVER:-redis-server}
NM_TMPDIR=$dir
export NM_REDIS_SOCK NM_TMPDIR REDIS_SERVER
"$top_builddir/t/unit/t_store"
