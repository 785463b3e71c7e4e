# Commits of merged branches count, merge commits don't; a tag on a merged branch owns what it contains.
. "$(dirname "$0")/../lib.sh"
c -m "feat: initial gain stage"
t v0.1.0
git checkout -q -b feature/meter
c -m "feat(ui): add a level meter"
c -m "fix(ui): meter ballistics"
t v0.2.0-beta.1
git checkout -q main
c -m "fix(dsp): denormal flushing"
merge feature/meter
git checkout -q -b hotfix
c -m "fix: crash on load"
git checkout -q main
c -m "feat: sidechain input"
merge hotfix
t v0.2.0
git checkout -q -b unmerged
c -m "feat: never merged"
lt v9.9.9
git checkout -q main
c -m "fix: after the release"
