# Prerelease tags fold into their release's section; an rc with no release yet keeps its own.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../prereleases.sh"  # 1.0.0, 2.0.0-rc.1, 2.0.0-rc.2, 2.0.0
c -m "feat: surround"
t v2.1.0-beta.1
c -m "fix: surround panning"
