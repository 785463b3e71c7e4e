# changelog.squashed_commits: the messages a squash merge lists in its body are entries of their own (with the pull
# request's number), and release-please's BEGIN_COMMIT_OVERRIDE block replaces the commit's own message.
. "$(dirname "$0")/../lib.sh"
c -m "feat: start"
t v1.0.0
c -m "feat(ui): the preset browser (#41)" -m "* feat(ui): list the presets

* fix(ui): scroll to the selection

  It jumped to the top.

* chore: tidy

* feat(ui)!: open presets by double click

BREAKING CHANGE: a single click only selects.

---------

Co-authored-by: Ada <ada@audiolab.dev>"
c -m "chore: merge the DSP work (#42)" -m "BEGIN_COMMIT_OVERRIDE
feat(dsp): add the oversampling switch

fix(dsp): denormals on ARM
Closes #40
END_COMMIT_OVERRIDE"
c -m "fix: a plain commit" -m "With a body that says fix: nothing in particular."
t v1.1.0
