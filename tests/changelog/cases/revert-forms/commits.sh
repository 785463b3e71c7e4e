# Every form of revert behaves like git's own `Revert "..."`: `revert(scope): ...` and `revert: ...` commits naming
# the reverted commit with git's "This reverts commit <sha>." line (full or short) or a `Refs: <sha>` footer cancel
# it within a release, and get a Removed (or Changed) entry when it was released before; a revert that names no sha
# but quotes a conventional header is read from it; a revert of a revert released before lists the original again.
. "$(dirname "$0")/../lib.sh"
c -m "feat(git): add the blame view"
c -m "fix(git): handle a detached HEAD"
t v1.0.0
c -m "feat: add the stash list"
t v1.1.0
c -m "fix(ui): repaint on resize"
c -m "revert(ui): repaint on resize" -m "This reverts commit $(git rev-parse HEAD)."
c -m "feat: add a dark theme"
c -m "revert: the dark theme is not ready" -m "Refs: $(git rev-parse --short HEAD)"
c -m "revert: add the stash list" -m "This reverts commit $(git rev-parse 'v1.1.0^{commit}')."
c -m "revert(git): handle a detached HEAD" -m "This reverts commit $(git rev-parse --short=10 'v1.0.0^{commit}')."
c -m "revert: feat(git): add the blame view"
c -m "fix: keep the window size"
t v1.2.0
c -m "Revert \"revert: add the stash list\"" -m "This reverts commit $(git rev-parse 'v1.2.0~3')."
