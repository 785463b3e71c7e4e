#!/usr/bin/env bash
# The main job on the embedded default: the whole release cycle of examples/plugin on a throwaway git copy, with a
# local-folder update server served over HTTP: a release, its staged rollout, a crash report that rolls it back, a
# hotfix straight to stable, and the KPIs. Every step prints what it did and where its document went.
# Run it with `make demo`; `RELENG_DEMO_S3=1 make demo` adds an S3 bucket (moto_server, the test fixture's object
# store) as a second mirror and points the users' updater at the bucket.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/releng-demo.XXXXXX")"
repo="$work/plugin"
servers="$work/update_server_config.json"
key="$work/release-key.pem"   # a throwaway Ed25519 release key; a real one lives in a secret store
ckey="$work/channel-key.pem"  # the channel role's key (online: publish, promote, watch-health); issue 15
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
doc() { printf '  -> %s\n' "$@" >&2; }
field() {  # field FILE KEY...: a value inside a JSON document
    python3 -c 'import json, sys
value = json.load(open(sys.argv[1], encoding="utf-8"))
for key in sys.argv[2:]:
    value = value[int(key)] if isinstance(value, list) else value[key]
print(value)' "$@"
}

export GIT_AUTHOR_NAME="AudioLab Dev" GIT_AUTHOR_EMAIL="dev@audiolab.example"
export GIT_COMMITTER_NAME="AudioLab Dev" GIT_COMMITTER_EMAIL="dev@audiolab.example"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

step "A throwaway copy of examples/plugin in $repo, tagged v0.1.0 with its changelog"
cp -r "$here/plugin" "$repo"
rm -rf "$repo/build" "$repo/dist"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" commit -q -m "feat: the gain plugin: gain, soft clipper, WAV in and out"
cd "$repo"
gen-changelog --version 0.1.0 -q
git add CHANGELOG.md
git commit -q -m "docs: changelog for 0.1.0"
git tag -a v0.1.0 -m "Release 0.1.0"

step "A release key, and a local-folder update server served over HTTP"
python3 -c 'import sys
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
open(sys.argv[1], "wb").write(Ed25519PrivateKey.generate().private_bytes(
    s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))' "$key"
pub="$(build-package --print-public-key --signing-key "$key" 2>/dev/null)"
cpub="$(manage-keys new --out "$ckey")" rpub="$(manage-keys new --out "$work/root-key.pem")"
manage-keys init --out "$work/1.root.json" --root-key "$rpub" --root-threshold 1 --release-key "$pub" \
    --release-threshold 1 --channel-key "$cpub" --channel-threshold 1 --sign-with "$work/root-key.pem"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port" s3=""  # RELENG_DEMO_S3=1: a moto S3 bucket mirrors the folder, and users read the bucket
if [ -n "${RELENG_DEMO_S3:-}" ]; then
    s3port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
    moto_server -H 127.0.0.1 -p "$s3port" >/dev/null 2>&1 &
    s3_pid=$! s3="http://127.0.0.1:$s3port" base="http://127.0.0.1:$s3port/demo"
    python3 - "$s3" <<'PY'
import json, socket, sys, time
import boto3
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1].rsplit(":", 1)[1])), 1).close()
        break
    except OSError:
        time.sleep(0.1)
c = boto3.client("s3", endpoint_url=sys.argv[1])
c.create_bucket(Bucket="demo")  # public read, as a CDN origin: the updater reads it over plain HTTP
c.put_bucket_policy(Bucket="demo", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::demo/*"}]}))
PY
fi
python3 - "$root/distribution/update_server_config.json" "$work" "$port" "$s3" "$pub" <<'PY'
import json, sys
config, work, port, s3 = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
config["manifest"]["trusted_keys"] = [sys.argv[5]]  # the release key signs SHA256SUMS; the channel key manifests
config["servers"] = [{"name": "local", "transport": "local", "root": f"{work}/update-server",
                      "base_url": f"http://127.0.0.1:{port}"}]
config["manifest"]["base_url"] = f"http://127.0.0.1:{port}"
if s3:  # the same transaction on a bucket (docs/update-server.md "S3 and R2"); manifests name the bucket's URLs
    config["servers"].append({"name": "bucket", "transport": "s3", "bucket": "demo", "endpoint_url": s3,
                              "region": "us-east-1", "base_url": f"{s3}/demo"})
    config["manifest"]["base_url"] = f"{s3}/demo"
json.dump(config, open(f"{work}/update_server_config.json", "w"), indent=2)
PY
mkdir -p "$work/update-server"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/update-server" >/dev/null 2>&1 &
server_pid=$!
trap 'kill $server_pid ${s3_pid:-} 2>/dev/null || true' EXIT
for _ in $(seq 50); do python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null && break; sleep 0.1; done
manage-keys publish --servers "$servers" "$work/1.root.json"  # trust/1.root.json and trust/root.json
doc "release key: $key (public: $pub)" "channel key: $ckey (public: $cpub)" "root: $work/1.root.json" \
    "servers: $servers" "http://127.0.0.1:$port/ serves $work/update-server"
check() {  # check CURRENT_VERSION CLIENT: a user's updater asks the stable channel for its product
    check-update --manifest-url "$base/channels/stable.json" --root "$work/1.root.json" \
        --product "$product" --current-version "$1" --client-id "$2" \
        --state "$work/state-$2.json" --download-dir "$work/downloads"
}

step "scripts/release.sh --tagged: v0.1.0, the release users have today, through the whole chain to stable"
msi=()  # where mingw-w64 and wixl are installed (.ci/run installs them), the Windows MSI is cross-built too
if command -v x86_64-w64-mingw32-g++-posix >/dev/null && command -v wixl >/dev/null; then
    msi=(--windows-msi "$work/dist-0.1.0-windows-msi")
fi
bash "$root/scripts/release.sh" --tagged --servers "$servers" --signing-key "$key" --channel-key "$ckey" "${msi[@]}" \
    --out "$work/release-0.1.0" --dist "$work/dist-0.1.0" --promote beta --promote stable
product="$(field "$work/dist-0.1.0/artifacts.json" name)"  # the updater's own name, as every manifest carries it

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
doc "$repo/build/release/version.json"

step "gen-changelog --version-file build/release/version.json: the user-facing notes for that version"
gen-changelog --version-file build/release/version.json --out build/release/changes.json
doc "$repo/CHANGELOG.md" "$repo/build/release/changes.json"
sed -n '/^## \[0\.2/,/^## \[0\.1/p' CHANGELOG.md | sed '$d' >&2

step "bump-version auto --commit --tag --include CHANGELOG.md: rewrite every version file, commit, tag"
version="$(bump-version auto --commit --tag --include CHANGELOG.md)"
doc "$repo/build/release/version.json"
git --no-pager show --stat --format='  %h %s' HEAD >&2
git --no-pager tag -n20 -l "v$version" >&2

step "build-package: configure, build, ctest, stage, package reproducibly, sign SHA256SUMS"
build-package --signing-key "$key" --out dist
verify-artifacts dist --public-key "$pub"
doc "$repo/dist/artifacts.json, SHA256SUMS, SHA256SUMS.sig"

step "validate-release: the release checklist as gates (tests from ctest's JUnit report)"
platform="$(field dist/artifacts.json platform)-$(field dist/artifacts.json arch)"
ctest --test-dir "build/package/$platform/cmake" -C Release --output-junit "$repo/build/release/tests.xml" -Q
validate-release --dist dist --public-key "$pub" --junit build/release/tests.xml --out build/release/validation.json
doc "$repo/build/release/validation.json"

step "publish-release to the update server (channel dev)"
publish-release --servers "$servers" --artifacts dist/artifacts.json --changes build/release/changes.json \
    --channel dev --signing-key "$ckey" --out build/release/publish.json
doc "$repo/build/release/publish.json" "$work/update-server/releases/$version/" "$work/update-server/channels/dev.json"

step "promote-release: dev -> beta -> stable at 10%, then 100% (each change re-signs the manifest)"
promote-release --servers "$servers" "$version" --to beta --signing-key "$ckey"
promote-release --servers "$servers" "$version" --to stable --rollout 10 --signing-key "$ckey"
promote-release --servers "$servers" "$version" --to stable --rollout 100 --signing-key "$ckey"
ls -l "$work/update-server/releases" "$work/update-server/channels" >&2
doc "$work/update-server/channels/history.jsonl"

step "check-update: a user's updater on 0.1.0 asks the stable channel over HTTP"
check 0.1.0 demo-user-1

step "A crash report: $version crashes in 7% of 1,200 sessions; watch-health --once rolls it back"
cat >"$work/telemetry.json" <<EOF
{"versions": {"$version": {"sessions": 1200, "crashes": 84, "clients": 450},
              "0.1.0": {"sessions": 5000, "crashes": 4, "clients": 2100}}}
EOF
doc "feed: $work/telemetry.json"
watch-health --servers "$servers" --feed "$work/telemetry.json" --once --signing-key "$ckey" --json \
    >"$work/watch-health.json"
ls -l "$work/update-server/quarantine" >&2
doc "$work/watch-health.json" "$work/update-server/rollback_log.jsonl" "$work/update-server/quarantine/"

step "check-update: the user who installed $version is taken back to 0.1.0 (rollback_of $version)"
check "$version" demo-user-1

step "The hotfix: a branch from the previous good tag (the rollback record's follow-up), with a fix"
read -r branch from < <(python3 -c 'import json, sys
follow = json.loads(open(sys.argv[1]).readline())["rollbacks"][0]["follow_up"]["hotfix"]
print(*follow.split()[-2:])' "$work/watch-health.json")
echo "  git checkout -b $branch $from" >&2
git checkout -q -b "$branch" "$from"
commit $'fix(wav): bounds-check the fmt chunk size\n\nThe crash reported against '"$version"$', present in 0.1.0 too.'

step "A channel key rotation: root version 2 names a new channel key; every channel is re-signed with it"
cpub2="$(manage-keys new --out "$work/channel-key-2.pem")"
manage-keys rotate --from "$work/1.root.json" --out "$work/2.root.json" --channel-key "$cpub2" \
    --channel-threshold 1 --sign-with "$work/root-key.pem"
manage-keys show "$work/2.root.json" --previous "$work/1.root.json" >&2
manage-keys publish --servers "$servers" "$work/2.root.json"
python3 - "$servers" "$cpub" <<'PY'
import json, sys  # for this one refresh, the old channel key is trusted to read the current manifests
config = json.load(open(sys.argv[1]))
config["manifest"]["trusted_keys"].append(sys.argv[2])
json.dump(config, open(sys.argv[1], "w"), indent=2)
PY
promote-release --servers "$servers" --refresh --force --signing-key "$work/channel-key-2.pem"
ckey="$work/channel-key-2.pem"

step "scripts/release.sh --hotfix: bump, changelog, tag, build, validate (profile hotfix), publish, straight to stable"
bash "$root/scripts/release.sh" --hotfix --servers "$servers" --signing-key "$key" --channel-key "$ckey" \
    --dist "$work/dist-hotfix"
hotfix="$(field "$work/dist-hotfix/artifacts.json" version)"

step "check-update: the user on 0.1.0 gets the hotfix $hotfix from stable (its updater walks to root 2 first)"
check 0.1.0 demo-user-1

step "release-metrics: the KPIs against their targets, and the dashboard (adoption: simulated update checks)"
cat >"$work/update-checks.json" <<EOF
{"versions": {"$hotfix": {"update_checks": 3400}, "0.1.0": {"update_checks": 1500}, "$version": {"update_checks": 100}}}
EOF
release-metrics --repo "$repo" --servers "$servers" --adoption "$work/update-checks.json" \
    --out "$work/metrics.json" --html "$work/dashboard.html"
doc "$work/update-checks.json" "$work/metrics.json" "dashboard: $work/dashboard.html"

step "Done. Everything is in $work (the repository, the update server, the downloads, the dashboard)"
