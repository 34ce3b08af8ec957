#!/usr/bin/env bash
# Builds Dynomite (Netflix's Dynamo-style replication layer over redis) from its public source,
# for the cluster comparison (see README.md here). Idempotent: does nothing when DIR/bin/dynomite
# already exists (delete DIR to rebuild).
#
# Usage: bench/peers/build-dynomite.sh [DIR]        (default DIR: target/peers/dynomite)
#
# The source comes from $DYNOMITE_SRC when set: a clone (a work tree with .git), a bare git
# directory, or a plain source directory; otherwise it is cloned from
# https://github.com/Netflix/dynomite. $DYNOMITE_REF picks the commit of a git source (default
# HEAD). Build tools (autoconf automake libtool build-essential libssl-dev) are installed with
# apt-get when missing.
#
# Result: DIR/bin/dynomite, and DIR/src/ with the source and build tree.
set -euo pipefail
. "$(dirname "$0")/common.sh"

dir=${1:-target/peers/dynomite}
ref=${DYNOMITE_REF:-HEAD}
bin="$dir/bin/dynomite"

if [ -x "$bin" ]; then
    echo "dynomite present: $bin ($("$bin" -V 2>&1 | head -1)$([ -f "$dir/COMMIT" ] && echo ", commit $(cat "$dir/COMMIT")"))"
    exit 0
fi

apt_install autoconf automake libtool build-essential libssl-dev pkg-config git ca-certificates

src="$dir/src"
commit=
rm -rf "$src"
mkdir -p "$src" "$dir/bin"
if [ -n "${DYNOMITE_SRC:-}" ]; then
    if [ -e "$DYNOMITE_SRC/.git" ]; then
        echo "source: clone $DYNOMITE_SRC at $ref" >&2
        git -C "$DYNOMITE_SRC" archive "$ref" | tar -x -C "$src"
        commit=$(git -C "$DYNOMITE_SRC" rev-parse "$ref")
    elif git --git-dir="$DYNOMITE_SRC" rev-parse --verify --quiet "$ref^{commit}" >/dev/null; then
        echo "source: git directory $DYNOMITE_SRC at $ref" >&2
        git --git-dir="$DYNOMITE_SRC" archive "$ref" | tar -x -C "$src"
        commit=$(git --git-dir="$DYNOMITE_SRC" rev-parse "$ref")
    elif [ -f "$DYNOMITE_SRC/configure.ac" ]; then
        echo "source: directory $DYNOMITE_SRC" >&2
        cp -a "$DYNOMITE_SRC/." "$src/"
    else
        echo "$0: DYNOMITE_SRC=$DYNOMITE_SRC is neither a git directory nor a Dynomite source tree" >&2
        exit 1
    fi
else
    echo "source: cloning https://github.com/Netflix/dynomite" >&2
    rm -rf "$src"
    git clone --quiet https://github.com/Netflix/dynomite "$src"
    git -C "$src" checkout --quiet "$ref"
    commit=$(git -C "$src" rev-parse HEAD)
fi

# The version Dynomite reports (`dynomite -V`) is `git describe` run at configure time: keep git
# from finding a repository around DIR (this one's, when DIR is under target/), and record the
# commit built from a git source beside the binary instead.
if [ -n "$commit" ]; then
    echo "$commit" >"$dir/COMMIT"
fi
export GIT_CEILING_DIRECTORIES
GIT_CEILING_DIRECTORIES=$(cd "$dir" && pwd)
(
    cd "$src"
    autoreconf -fvi >autoreconf.log 2>&1 || { tail -20 autoreconf.log >&2; exit 1; }
    # -fcommon: the source defines some globals in headers, which GCC 10+ rejects by default.
    ./configure CFLAGS="-O2 -fcommon" >configure.log 2>&1 || { tail -20 configure.log >&2; exit 1; }
    make -j"$(nproc)" CFLAGS="-O2 -fcommon" >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
)
cp "$src/src/dynomite" "$bin"
echo "dynomite built: $bin ($("$bin" -V 2>&1 | head -1)${commit:+, commit $commit})"
