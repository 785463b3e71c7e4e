# A breaking-change note of several paragraphs, with a list and code fences (CRLF or LF), is nested under its entry
# as Markdown; a one-paragraph note stays on the entry's line.
. "$(dirname "$0")/../lib.sh"
c -m "feat: start"
t v1.0.0
m 'feat(config)!: read the settings from one file\r\n\r\nBREAKING CHANGE: the settings moved to settings.json.\r\n\r\nMove them over:\r\n\r\n- run the migration once\r\n- delete the old folder\r\n\r\n```json\r\n{\r\n  "gain": 0.5,\r\n\r\n  "ceiling": -0.1\r\n}\r\n```\r\n\r\nCloses #12\r\n'
m 'fix(dsp): clamp the output\n\nBREAKING CHANGE: the limiter now clamps at 0 dBFS.\n\n## Migration\n\n```diff\n-ceiling = 3\n+ceiling = 0\n```\n'
m 'fix: a short note\n\nBREAKING CHANGE: presets from 1.x\nare not read.\n'
m 'feat: an open fence is closed\n\nBREAKING CHANGE: the log format changed:\n\n```sh\n# lines start with a level\nINFO started\n'
t v2.0.0
