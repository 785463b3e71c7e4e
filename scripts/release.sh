#!/usr/bin/env bash
# How the releng scripts chain through their JSON documents: one release of a plugin repository, step by step.
# `scripts/release.sh --help` for the options. .github/workflows/release.yml runs the same commands in CI
# (tests/test_workflows.py checks that the two stay the same chain).
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/release.sh [options]

One release of a plugin repository, each step's document written under --out (default REPO/build/release):

  bump-version auto --dry-run      -> version.json      decide the version from the Conventional Commits
  gen-changelog                    -> changes.json      write its section of CHANGELOG.md
  bump-version auto --commit --tag -> version.json      rewrite the version files, commit, annotated tag
  build-package                    -> DIST/artifacts.json, SHA256SUMS, SHA256SUMS.sig
  verify-artifacts                 -> verified.json     signature, sizes and sha256 of DIST
  ctest --output-junit             -> tests.xml         the built tree's tests, as evidence for the gates
  validate-release                 -> validation.json   the release gates (a failing blocking gate stops here)
  publish-release --channel dev    -> publish.json      upload to every update server, sign the dev manifest
  promote-release (each --promote) -> promote-<channel>.json

Options:
  --repo DIR           the plugin repository (default: the git top-level of the current directory)
  --servers FILE       update server config for publish-release and promote-release (required to publish)
  --signing-key FILE   Ed25519 release key file (default: the RELENG_SIGNING_KEY variable holds the key text);
                       the key is passed by path or environment only, never printed
  --channel-key FILE   the channel role's key for publish-release and promote-release (issue 15; default: the
                       --signing-key, which then holds both roles)
  --out DIR            where the documents go (default: REPO/build/release)
  --dist DIR           where build-package puts the release folder (default: REPO/dist)
  --pre-id ID          a prerelease: bump-version --pre-id ID (rc: 1.3.0-rc.1), validated with --profile rc
  --hotfix             a hotfix (run on a hotfix/X.Y.Z branch): validate with --profile hotfix, then publish to
                       dev and promote straight to stable (promote-release --hotfix; 100% unless --promote stable@PCT)
  --tagged             HEAD already carries the release tag (CI, or a rerun): skip the bump and the tag
  --promote CH[@PCT]   after publishing, promote to channel CH at rollout PCT% (repeatable, in order),
                       e.g. --promote beta --promote stable@10
  --tag-only           stop after the tag: push it and CI (.github/workflows/release.yml) does the rest
  --no-publish         stop after validate-release
  --windows-msi DIR    also cross-build the Windows MSI on this Linux machine (mingw-w64, wixl: docs/packaging.md)
                       into its own signed release folder DIR and verify it (not published yet)
  -h, --help           this help

Exit status: that of the first step that fails (1: a negative answer, e.g. nothing to release or a blocking gate
failed; 2: bad input; 3: internal error). docs/release-cycle.md explains when to run what.

Recovery: when a step after the tag fails before anything was published (a compile error, a failing test or
gate), this script removes the release commit and the tag it made itself (git tag -d, git reset --keep to the
commit it started from) and says so: fix the cause and rerun. Nothing is pushed by this script; once
publish-release has run, nothing is undone (roll back with rollback-release instead).
EOF
}

die() { printf 'error: %s\n' "$*" >&2; exit 2; }
absolute() { case "$1" in /*|"") printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
step() { printf '\n== %s\n' "$*" >&2; }
field() {  # field FILE KEY: one top-level string of a JSON document
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1], encoding="utf-8"))[sys.argv[2]])' "$1" "$2"
}

repo="" servers="" key="" channel_key="" out="" dist="" pre_id="" msi_dist="" hotfix=0 tagged=0 publish=1 tag_only=0
promotions=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --repo|--servers|--signing-key|--channel-key|--out|--dist|--pre-id|--promote|--windows-msi)
            [ $# -ge 2 ] || die "$1 needs a value"
            case "$1" in
                --repo) repo="$2" ;;
                --servers) servers="$2" ;;
                --signing-key) key="$2" ;;
                --channel-key) channel_key="$2" ;;
                --out) out="$2" ;;
                --dist) dist="$2" ;;
                --pre-id) pre_id="$2" ;;
                --promote) promotions+=("$2") ;;
                --windows-msi) msi_dist="$2" ;;
            esac
            shift 2 ;;
        --hotfix) hotfix=1; shift ;;
        --tagged) tagged=1; shift ;;
        --no-publish) publish=0; shift ;;
        --tag-only) tag_only=1; publish=0; shift ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

repo="$(git -C "${repo:-.}" rev-parse --show-toplevel 2>/dev/null)" || die "not a git repository: ${repo:-.}"
out="$(absolute "${out:-$repo/build/release}")"
dist="$(absolute "${dist:-$repo/dist}")"
msi_dist="$(absolute "$msi_dist")"
key="$(absolute "$key")"
channel_key="$(absolute "$channel_key")"
servers="$(absolute "$servers")"
[ -z "$key" ] || [ -f "$key" ] || die "--signing-key: no such file: $key"
[ "$tag_only" = 1 ] || [ -n "$key" ] || [ -n "${RELENG_SIGNING_KEY:-}" ] \
    || die "no signing key: give --signing-key FILE or set RELENG_SIGNING_KEY"
[ "$tag_only" = 0 ] || [ "$tagged" = 0 ] || die "--tag-only and --tagged contradict each other"
if [ "$publish" = 1 ]; then
    [ -n "$servers" ] || die "--servers FILE is required to publish (or --no-publish)"
    [ -f "$servers" ] || die "--servers: no such file: $servers"
fi
for p in "${promotions[@]}"; do
    [[ "$p" =~ ^[a-z]+(@[0-9]+)?$ ]] || die "--promote takes CHANNEL or CHANNEL@PERCENT, found: $p"
done
[ "$hotfix" = 0 ] || [ -z "$pre_id" ] || die "--hotfix and --pre-id contradict each other"
cd "$repo"
if [ "$tagged" = 1 ]; then   # any tag prefix ([versioning] tag_prefix): v1.2.3, nebula-1.2.3
    version=""
    for tag in $(git tag --points-at HEAD); do
        candidate="${tag#"${tag%%[0-9]*}"}"
        if semver-tool valid "$candidate" 2>/dev/null; then version="$candidate"; break; fi
    done
    [ -n "$version" ] || die "--tagged: HEAD carries no release tag"
fi
mkdir -p "$out"

key_args=()
[ -z "$key" ] || key_args=(--signing-key "$key")
channel_args=("${key_args[@]}")
[ -z "$channel_key" ] || channel_args=(--signing-key "$channel_key")
version_args=()   # the version document this run wrote (a tagged release has none: the tag says it)
[ "$tagged" = 1 ] || version_args=(--version-file "$out/version.json")
bump_args=(auto)
[ -z "$pre_id" ] || bump_args+=(--pre-id "$pre_id")
profile=release
[ -z "$pre_id" ] || profile=rc
[ "$hotfix" = 0 ] || profile=hotfix

# What this run made locally, undone when a later step fails before anything is published (issue 13: a compile
# error left the tag on a commit that does not build).
made_tag="" made_commit="" started_at="" published=0
undo() {
    local code=$?
    [ "$code" != 0 ] && [ -n "$made_tag" ] && [ "$published" = 0 ] || return 0
    trap - EXIT
    if [ "$(git rev-parse HEAD)" = "$made_commit" ] \
        && [ "$(git rev-parse -q --verify "refs/tags/$made_tag^{commit}")" = "$made_commit" ]; then
        git tag -d "$made_tag" >/dev/null
        if git reset -q --keep "$started_at"; then
            printf 'release.sh: a step failed before anything was published: removed the tag %s and the release commit %s made by this run (HEAD is back at %s); fix the cause and rerun\n' \
                "$made_tag" "${made_commit:0:12}" "${started_at:0:12}" >&2
        else
            printf 'release.sh: a step failed: removed the tag %s; the release commit %s stays (local changes in its files): git reset --keep %s once they are saved\n' \
                "$made_tag" "${made_commit:0:12}" "${started_at:0:12}" >&2
        fi
    else
        printf 'release.sh: a step failed, and HEAD or %s moved since this run made them: nothing undone; remove them by hand (git tag -d %s; git reset --keep %s)\n' \
            "$made_tag" "$made_tag" "${started_at:0:12}" >&2
    fi
    exit "$code"
}
trap undo EXIT

if [ "$tagged" = 0 ]; then
    step "bump-version ${bump_args[*]} --dry-run: decide the version"
    set +e
    bump-version "${bump_args[@]}" --dry-run -q --out "$out/version.json"
    code=$?
    set -e
    if [ "$code" = 1 ]; then   # bump-version said why on stderr (even with -q): nothing since the last tag
        step "Nothing releasable: no feat, fix or breaking commit since the last release tag; nothing changed"
        exit 1
    fi
    [ "$code" = 0 ] || exit "$code"

    step "gen-changelog: the notes of that version into CHANGELOG.md"
    gen-changelog --version-file "$out/version.json" --out "$out/changes.json"
    echo "  $repo/CHANGELOG.md and $out/changes.json" >&2

    step "bump-version ${bump_args[*]} --commit --tag: rewrite the version files, commit, tag"
    started_at="$(git rev-parse HEAD)"
    version="$(bump-version "${bump_args[@]}" --commit --tag --include CHANGELOG.md --out "$out/version.json")"
    made_tag="$(field "$out/version.json" tag)" made_commit="$(field "$out/version.json" commit)"
    echo "  $made_tag; document: $out/version.json (undone by this script if a later step fails)" >&2
    if [ "$tag_only" = 1 ]; then
        step "Tagged v$version. Push it (git push --follow-tags); CI builds, validates and publishes to dev"
        exit 0
    fi
else
    step "gen-changelog --version $version: the notes of the tagged release (CHANGELOG.md left as committed)"
    gen-changelog --version "$version" --changelog - --out "$out/changes.json" >/dev/null
    echo "  document: $out/changes.json" >&2
fi

step "build-package: build, test, package reproducibly, sign SHA256SUMS"
build-package --source "$repo" --out "$dist" "${version_args[@]}" "${key_args[@]}" >/dev/null
public_key="$(build-package --source "$repo" --print-public-key "${key_args[@]}")"
echo "  documents: $dist/artifacts.json, $dist/SHA256SUMS, $dist/SHA256SUMS.sig" >&2
[ "$(field "$dist/artifacts.json" version)" = "$version" ] || die "$dist/artifacts.json is not of version $version"

step "verify-artifacts: the signature, and every file's size and sha256"
verify-artifacts "$dist" --public-key "$public_key" --json >"$out/verified.json"
echo "  document: $out/verified.json" >&2

if [ -n "$msi_dist" ]; then
    step "build-package --platform windows --format msi: the Windows MSI, cross-built (mingw-w64, wixl)"
    build-package --source "$repo" --platform windows --arch x86_64 --format msi \
        --build-dir "$repo/build/package-windows-msi" --out "$msi_dist" "${version_args[@]}" "${key_args[@]}" >/dev/null
    verify-artifacts "$msi_dist" --public-key "$public_key" --json >"$out/verified-windows-msi.json"
    echo "  documents: $msi_dist/artifacts.json, $out/verified-windows-msi.json" >&2
fi

step "ctest: the tests of the tree build-package built, as a JUnit report"
platform="$(field "$dist/artifacts.json" platform)-$(field "$dist/artifacts.json" arch)"
ctest --test-dir "$repo/build/package/$platform/cmake" -C Release --output-junit "$out/tests.xml" -Q
echo "  report: $out/tests.xml" >&2

step "validate-release --profile $profile: the release gates"
validate-release --profile "$profile" --dist "$dist" --public-key "$public_key" --junit "$out/tests.xml" \
    "${version_args[@]}" --out "$out/validation.json"
echo "  document: $out/validation.json" >&2

if [ "$publish" = 0 ]; then
    step "Validated $version; not published (--no-publish). Documents in $out"
    exit 0
fi

step "publish-release --channel dev: upload to every update server, sign the dev manifest"
published=1   # from here on a failure undoes nothing: the release may be on a server
publish-release --servers "$servers" --artifacts "$dist/artifacts.json" --changes "$out/changes.json" \
    --channel dev "${channel_args[@]}" --out "$out/publish.json"
echo "  document: $out/publish.json" >&2

if [ "$hotfix" = 1 ]; then   # straight to stable at 100%, unless --promote stable@PCT says less
    to_stable=0
    for p in "${promotions[@]}"; do [ "${p%@*}" != stable ] || to_stable=1; done
    [ "$to_stable" = 1 ] || promotions=("stable" "${promotions[@]}")
fi
for p in "${promotions[@]}"; do
    channel="${p%@*}"
    promote_args=(--to "$channel")
    [ "$p" = "$channel" ] || promote_args+=(--rollout "${p#*@}")
    [ "$hotfix" = 0 ] || [ "$channel" != stable ] || promote_args+=(--hotfix)
    step "promote-release $version ${promote_args[*]}"
    promote-release --servers "$servers" "$version" "${promote_args[@]}" "${channel_args[@]}" \
        --out "$out/promote-$channel.json"
    echo "  document: $out/promote-$channel.json" >&2
done

step "Released $version. Documents in $out, the release folder in $dist"
