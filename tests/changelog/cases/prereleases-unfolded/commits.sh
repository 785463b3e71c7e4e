# fold_prereleases = false: each prerelease keeps its own section.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../prereleases.sh"  # 1.0.0, 2.0.0-rc.1, 2.0.0-rc.2, 2.0.0
