# Sourced by every case's commits.sh, which runs in an empty repository right after `git init -b main`.
# Dates are fixed, so commit shas (and expected.md) are the same on every machine.
set -euo pipefail
_n=0
_date="1704067200 +0000"  # 2024-01-01T00:00:00Z

# c -m SUBJECT [-m PARAGRAPH]...: an empty commit, one day after the previous one
c() {
    _n=$((_n + 1))
    _date="$((1704067200 + _n * 86400)) +0000"
    GIT_AUTHOR_DATE="$_date" GIT_COMMITTER_DATE="$_date" git commit -q --allow-empty "$@"
}

# t NAME: an annotated tag on HEAD, dated like the last commit; lt NAME: a lightweight one
t() { GIT_COMMITTER_DATE="$_date" git tag -a "$1" -m "Release $1" "${2:-HEAD}"; }
lt() { git tag "$1" "${2:-HEAD}"; }

# merge BRANCH: a --no-ff merge commit, one day later
merge() {
    _n=$((_n + 1))
    _date="$((1704067200 + _n * 86400)) +0000"
    GIT_AUTHOR_DATE="$_date" GIT_COMMITTER_DATE="$_date" git merge -q --no-ff --no-edit "$1"
}

# m 'MESSAGE': a commit whose message is printf's MESSAGE (\r\n, blank lines) kept byte for byte (no cleanup)
m() {
    local file
    file="$(mktemp)"
    printf "$1" > "$file"
    c --cleanup=verbatim -F "$file"
    rm -f "$file"
}
