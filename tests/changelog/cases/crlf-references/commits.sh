# Every issue on Closes/Fixes/Resolves/Refs lines, whatever the separators, in CRLF bodies as in LF ones.
. "$(dirname "$0")/../lib.sh"
c -m "feat: start"
t v1.0.0
m 'fix: keep the cursor on reload\r\n\r\nresolves #289\r\n'
m 'feat: two issues at once\r\n\r\nCloses #399 #225\r\n'
m 'fix: three lines of references\r\n\r\nCloses #61, Closes #50\r\nRefs: #7\r\nFixes: 12, #13\r\n'
m 'fix(api): the same on LF lines (#3)\n\nFixes #4 #5\nResolves: #6; #3\nRefs: other/repo#8\n'
m 'feat: a reference in the body is one too\r\n\r\nThis was asked for long ago.\r\nRefs #77\r\n'
t v1.1.0
