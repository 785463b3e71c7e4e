# --version 1.1.0: the commits since the last tag become [1.1.0], dated today (SOURCE_DATE_EPOCH).
. "$(dirname "$0")/../lib.sh"
c -m "feat: one"
t v1.0.0
c -m "feat: two"
t v1.1.0-rc.1
c -m "fix: three"
