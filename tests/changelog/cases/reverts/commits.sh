# A revert in the same release removes both; a revert of an earlier release is listed; a revert of a revert
# brings the original back.
. "$(dirname "$0")/../lib.sh"
c -m "feat: add oversampling"
c -m "fix: handle mono"
t v1.0.0
c -m "feat: add tempo sync"
c -m "Revert \"feat: add tempo sync\"" -m "This reverts commit $(git rev-parse HEAD)."
c -m "feat: add MIDI learn"
c -m "Revert \"feat: add MIDI learn\"" -m "This reverts commit $(git rev-parse HEAD)."
c -m "Revert \"Revert \"feat: add MIDI learn\"\"" -m "This reverts commit $(git rev-parse HEAD)."
c -m "Revert \"feat: add oversampling\"" -m "This reverts commit $(git rev-parse v1.0.0~1)."
c -m "Revert \"fix: handle mono\"" -m "This reverts commit $(git rev-parse v1.0.0)."
c -m "docs: explain presets"
c -m "revert: let us never again speak of the docs" -m "Refs: $(git rev-parse --short HEAD)"
t v1.1.0
