# Prerelease tags fold into their release's section; an rc with no release yet keeps its own.
. "$(dirname "$0")/../lib.sh"
c -m "feat: first"
t v1.0.0
c -m "feat!: new preset format" -m "BREAKING CHANGE: presets from 1.x are not read"
t v2.0.0-rc.1
c -m "fix: preset migration"
t v2.0.0-rc.2
c -m "fix: last-minute fix"
t v2.0.0
c -m "feat: surround"
t v2.1.0-beta.1
c -m "fix: surround panning"
