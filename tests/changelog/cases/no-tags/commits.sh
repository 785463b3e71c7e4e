# No tags at all: everything is Unreleased; a non-conventional commit is skipped.
. "$(dirname "$0")/../lib.sh"
c -m "Initial commit"
c -m "feat: gain"
c -m "fix: clicks"
