#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# trainer.sh - run t/unit/t_trainer against a private redis-server on a
# unix socket. t_trainer writes its ini files and the socket symlinks of
# its queue case in the same temp dir. Not exec'd, so that the exit trap
# of t/lib.sh still stops redis; t_trainer's TAP is the only output.

. "${top_srcdir:-.}/t/lib.sh"

dir=$(nm_tmpdir trainer)
nm_redis_start "$dir"
NM_TMPDIR=$dir
export NM_REDIS_SOCK NM_TMPDIR
"$top_builddir/t/unit/t_trainer"
