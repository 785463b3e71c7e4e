# Breaking changes come first, marked, with the BREAKING CHANGE text; a breaking chore is listed too.
. "$(dirname "$0")/../lib.sh"
c -m "feat: first release"
t v1.0.0
c -m "fix: handle silence"
c -m "feat(preset)!: store presets as JSON"
c -m "feat: add undo" -m "BREAKING CHANGE: the undo shortcut replaces the old bypass shortcut"
c -m "chore!: drop macOS 10.13" -m "BREAKING-CHANGE: macOS 10.14 or newer is required"
c -m "fix(ui): keep the window size" -m "Some detail nobody reads." -m "BREAKING CHANGE: the window no longer remembers its position.
Move it once after updating."
t v2.0.0
