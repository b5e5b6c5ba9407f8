#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# model_corpus.sh - run t_model_corpus over all messages of the shared corpus
# (both scanners). Skips when ../shared is absent. By hand, from the build
# directory: top_srcdir=/path/to/src top_builddir=$PWD t/unit/model_corpus.sh

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
export top_srcdir top_builddir

. "$top_srcdir/t/lib_corpus.sh"

dir=$(nm_corpus_unpack)
case $? in
0) ;;
1)
    echo "1..0 # SKIP corpus absent"
    exit 0
    ;;
*)
    echo "Bail out! cannot unpack the corpus"
    exit 1
    ;;
esac
exec "$top_builddir/t/unit/t_model_corpus" "$dir" \
    "$top_srcdir/../shared/corpus/index.tsv"
