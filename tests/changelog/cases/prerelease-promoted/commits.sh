# A prerelease line promoted to its final release (`--version 2.0.0`, what `bump-version auto` answers here even
# though only chores follow the last beta): the betas fold into [2.0.0], dated today.
. "$(dirname "$0")/../lib.sh"
c -m "feat: first"
t v1.0.0
c -m "feat!: new preset format" -m "BREAKING CHANGE: presets from 1.x are not read"
t v2.0.0-beta.1
c -m "fix: preset migration"
t v2.0.0-beta.2
c -m "chore: tidy"
c -m "docs: the upgrade guide"
