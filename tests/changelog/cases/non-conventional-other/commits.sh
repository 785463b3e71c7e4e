# Non-conventional commits go under other_heading when it is set; merges and fixup! commits never do.
. "$(dirname "$0")/../lib.sh"
c -m "Initial commit"
c -m "feat: gain"
t v0.1.0
c -m "WIP"
c -m "Update README.md (#3)"
c -m "fixup! feat: gain"
c -m "feature: not a known type"
c -m "fix:missing space"
c -m "Merge branch 'x' of github.com:a/b"
