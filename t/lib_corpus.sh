# SPDX-License-Identifier: BSD-2-Clause
#
# lib_corpus.sh - sourced by the tests that read the shared corpus
# (../shared/corpus next to the source tree, see its README.md).
# nm_corpus_unpack unpacks both tarballs once into
# $top_builddir/t/tmp/corpus and prints that directory; it returns 1 when
# the corpus is absent (the caller then skips) and 2 when unpacking fails.
# Needs top_srcdir and top_builddir (exported by make check).

# nm_corpus_unpack - unpack the corpus once, print its directory
nm_corpus_unpack() {
    nm_src="${top_srcdir:?}/../shared/corpus"
    nm_dst="${top_builddir:?}/t/tmp/corpus"
    if [ ! -f "$nm_src/index.tsv" ]; then
        return 1
    fi
    if [ ! -f "$nm_dst/.unpacked" ]; then
        # unpack aside, then rename: tests running at once never see a
        # half-unpacked tree, and the loser of a race drops its copy
        nm_tmp="$nm_dst.tmp.$$"
        rm -rf "$nm_tmp"
        mkdir -p "$nm_tmp" || return 2
        for nm_f in "$nm_src"/*.tar.zst; do
            zstd -dc "$nm_f" | (cd "$nm_tmp" && tar -xf -) || {
                echo "nm_corpus_unpack: cannot unpack $nm_f" >&2
                rm -rf "$nm_tmp"
                return 2
            }
        done
        : >"$nm_tmp/.unpacked"
        mv -T "$nm_tmp" "$nm_dst" 2>/dev/null || rm -rf "$nm_tmp"
        if [ ! -f "$nm_dst/.unpacked" ]; then
            echo "nm_corpus_unpack: $nm_dst is incomplete" >&2
            return 2
        fi
    fi
    echo "$nm_dst"
}
