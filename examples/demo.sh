#!/usr/bin/env bash
# The main job on the embedded default: a release of examples/plugin on a throwaway git copy.
# Every step prints what it did and where its document went. Run it with `make demo`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/releng-demo.XXXXXX")"
repo="$work/plugin"
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

export GIT_AUTHOR_NAME="AudioLab Dev" GIT_AUTHOR_EMAIL="dev@audiolab.example"
export GIT_COMMITTER_NAME="AudioLab Dev" GIT_COMMITTER_EMAIL="dev@audiolab.example"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

step "A throwaway copy of examples/plugin in $repo, released once as v0.1.0"
cp -r "$here/plugin" "$repo"
rm -rf "$repo/build"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" commit -q -m "chore: import the gain plugin"
git -C "$repo" tag -a v0.1.0 -m "Release 0.1.0"
cd "$repo"

step "Developers commit; the commit-msg hook (lint-commit) checks each message"
lint-commit --install-hook --repo "$repo" >&2
commit() { git commit -q --allow-empty -m "$1" && echo "  ok: ${1%%$'\n'*}" >&2; }
commit "feat(dsp): soft-knee limiter with a configurable ceiling"
commit $'fix(wav): read WAVE_FORMAT_EXTENSIBLE float files\n\nRefs: #42'
commit "docs: explain the limiter curve"
commit $'perf(dsp): skip the limiter when the signal is below the knee\n\nChangelog: Lower CPU use on quiet tracks.'
if git commit -q --allow-empty -m "added stuff" 2>/dev/null; then
    echo "the hook let a bad message through" >&2; exit 1
else
    echo "  refused: 'added stuff' (not a Conventional Commit)" >&2
fi

step "bump-version auto --dry-run: decide the version (breaking -> major, feat -> minor, fix -> patch)"
bump-version auto --dry-run --out build/release/version.json

step "gen-changelog --version-file build/release/version.json: the user-facing notes for that version"
gen-changelog --version-file build/release/version.json --out build/release/changes.json
echo "  CHANGELOG.md and $repo/build/release/changes.json" >&2
cat CHANGELOG.md >&2

step "bump-version auto --commit --tag --include CHANGELOG.md: rewrite every version file, commit, tag"
bump-version auto --commit --tag --include CHANGELOG.md
echo "  document: $repo/build/release/version.json" >&2
git --no-pager show --stat --format='  %h %s' HEAD >&2
git --no-pager tag -n20 -l "$(git describe --tags --abbrev=0)" >&2

step "Done. Everything is in $repo (delete it when you are done looking)"
