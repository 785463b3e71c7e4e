# feat, fix, perf and refactor are listed; docs, style, test, build, ci and chore are hidden.
. "$(dirname "$0")/../lib.sh"
c -m "feat: add a gain knob"
c -m "docs: write the README"
t v0.1.0
c -m "feat(ui): add a dark theme (#12)"
c -m "fix(dsp): avoid clicks when the gain changes"
c -m "perf(dsp): vectorize the gain stage"
c -m "refactor: split the processor"
c -m "test: cover the gain stage"
c -m "chore: tidy"
c -m "ci: add a macOS job"
c -m "build: pin JUCE"
c -m "style: reformat"
t v0.2.0
c -m "fix: restore the state after a crash" -m "Closes #40"
