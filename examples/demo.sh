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

step "build-package: configure, build, ctest, stage, package reproducibly, sign SHA256SUMS"
key="$work/release-key.pem"   # a throwaway Ed25519 release key; a real one lives in a secret store
python3 -c 'import sys
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
open(sys.argv[1], "wb").write(Ed25519PrivateKey.generate().private_bytes(
    s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))' "$key"
build-package --signing-key "$key" --out dist
pub="$(build-package --print-public-key --signing-key "$key")"
verify-artifacts dist --public-key "$pub"
echo "  documents: $repo/dist/artifacts.json, SHA256SUMS, SHA256SUMS.sig" >&2

step "publish-release to the local-folder update server $work/update-server (channel dev)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 - "$here/../distribution/update_server_config.json" "$work" "$port" <<'PY'
import json, sys
config, work, port = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
config["servers"] = [{"name": "local", "transport": "local", "root": f"{work}/update-server",
                      "base_url": f"http://127.0.0.1:{port}"}]
config["manifest"]["base_url"] = f"http://127.0.0.1:{port}"
json.dump(config, open(f"{work}/update_server_config.json", "w"), indent=2)
PY
servers="$work/update_server_config.json"
publish-release --config "$servers" --artifacts dist/artifacts.json --changes build/release/changes.json \
    --channel dev --signing-key "$key"

step "promote-release: dev -> beta -> stable at 10%, then 100% (each change re-signs the manifest)"
version="$(git describe --tags --abbrev=0)"; version="${version#v}"
promote-release --config "$servers" "$version" --to beta --signing-key "$key"
promote-release --config "$servers" "$version" --to stable --rollout 10 --signing-key "$key"
promote-release --config "$servers" "$version" --to stable --rollout 100 --signing-key "$key"
ls -l "$work/update-server/releases" "$work/update-server/channels" >&2

step "check-update: a user's updater on 0.1.0 asks the stable channel over HTTP"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/update-server" >/dev/null 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null && break; sleep 0.1; done
check-update --manifest-url "http://127.0.0.1:$port/channels/stable.json" --public-key "$pub" \
    --current-version 0.1.0 --client-id demo-user-1 --state "$work/client-state.json" --download-dir "$work/downloads"

step "Done. Everything is in $work (the repository, dist/, the update server, the download)"
