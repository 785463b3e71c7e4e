# Changelog:, Deprecated:, Removed:, Security:, Refs:/Closes: footers and the deprecate/remove/security types.
. "$(dirname "$0")/../lib.sh"
c -m "feat: start"
t v1.0.0
c -m "feat(ui): add HiDPI scaling (#101)" -m "Changelog: The plugin window is sharp on HiDPI screens" -m "Refs: #99, #100"
c -m "fix: internal cleanup" -m "Changelog: skip"
c -m "feat: new preset API" -m "Deprecated: the loadPreset() call"
c -m "chore: drop VST2" -m "Removed: yes"
c -m "fix: bounds check in the preset parser" -m "Security: CVE-2024-0001" -m "Closes #7"
c -m "deprecate(host): the old parameter IDs"
c -m "remove: the legacy installer"
c -m "security: sign the installer" -m "Refs #8
Reviewed-by: Ada <ada@audiolab.dev>"
c -m "fix: parse footers only at the end" -m "Security: this line is in the body" -m "More body."
t v1.1.0
