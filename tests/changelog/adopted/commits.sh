# The history every adopted changelog describes up to v0.2.0; v0.2.1, v0.3.0 and one unreleased fix are new.
. "$(dirname "$0")/../cases/lib.sh"
c -m "feat: add a gain knob"
t v0.1.0
c -m "fix: clamp the gain"
t v0.1.1
c -m "feat: add a mute switch"
t v0.2.0
c -m "fix(dsp): avoid clicks when the gain changes" -m "Closes #7"
t v0.2.1
c -m "feat(ui): add a dark theme"
t v0.3.0
c -m "fix: restore the state after a crash"
