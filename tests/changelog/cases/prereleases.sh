# Sourced by prereleases/commits.sh and prereleases-unfolded/commits.sh (after lib.sh): the history both cases share,
# 1.0.0 then 2.0.0 by way of two release candidates, so the two differ only in fold_prereleases and what follows.
c -m "feat: first"
t v1.0.0
c -m "feat!: new preset format" -m "BREAKING CHANGE: presets from 1.x are not read"
t v2.0.0-rc.1
c -m "fix: preset migration"
t v2.0.0-rc.2
c -m "fix: last-minute fix"
t v2.0.0
