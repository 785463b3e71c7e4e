# Lightweight tags are dated by their commit, annotated ones by the tagger; other tags are ignored.
. "$(dirname "$0")/../lib.sh"
c -m "feat: one"
lt release-1.0.0
c -m "feat: two"
c -m "fix: three"
GIT_COMMITTER_DATE="1735603200 +0000" git tag -a release-1.1.0 -m "annotated a year later"
lt v5.0.0
lt release-latest
c -m "fix: four"
