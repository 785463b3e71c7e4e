# fold_prereleases = false: each prerelease keeps its own section.
. "$(dirname "$0")/../lib.sh"
c -m "feat: first"
t v1.0.0
c -m "feat!: new preset format" -m "BREAKING CHANGE: presets from 1.x are not read"
t v2.0.0-rc.1
c -m "fix: preset migration"
t v2.0.0-rc.2
c -m "fix: last-minute fix"
t v2.0.0
