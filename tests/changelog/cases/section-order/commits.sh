# Categories come in Keep a Changelog's order in every release, whichever holds a breaking change; a breaking
# change is first in its own category. Headings the config adds (other_heading) come after, alphabetically.
. "$(dirname "$0")/../lib.sh"
c -m "feat: start"
t v1.0.0
c -m "feat: add a meter"
c -m "fix!: drop the old preset format"
c -m "security: sign the installer"
c -m "tidy the build scripts"
c -m "deprecate: the old API"
t v2.0.0
c -m "fix: clicks"
c -m "feat!: new state format"
c -m "remove: the legacy installer"
t v3.0.0
