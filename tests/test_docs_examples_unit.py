"""The docs harness's own rules (tests/docs_examples.py): what it reads as an example, what it lets differ, and
that a page cannot pin a free port. Pure: no commands run here."""

from __future__ import annotations

import re

from tests.docs_examples import examples, matches, page_examples, page_files

PAGE = """# A page

<!-- examples: lab -->

<!-- file: checks/a.toml -->
```toml
[[scenario]]
```

```
$ smtpprobe send --server 127.0.0.1:$PORT \\
      --to postmaster@lab.test
=== Trying 127.0.0.1:40467...
$ echo $?
0
```

<!-- example: none -->
````
$ smtpprobe explain - <<'EOF'
550 5.7.1 no
EOF
```
inner fence, part of the output
```
````

```
$ python3 -m venv x
```
"""


def test_blocks_commands_targets_and_files_are_read():
    found = page_examples(PAGE, "page.md")
    assert [(e.line, e.target) for e in found] == [(10, "lab"), (19, "none")]
    send, echo = found[0].commands
    assert send.text == "smtpprobe send --server 127.0.0.1:$PORT --to postmaster@lab.test"
    assert send.expected == ["=== Trying 127.0.0.1:40467..."] and echo.expected == ["0"]
    explain = found[1].commands[0]
    assert explain.text.endswith("550 5.7.1 no\nEOF") and explain.expected[-1] == "```"
    assert page_files(PAGE) == {"checks/a.toml": "[[scenario]]\n"}


def test_what_may_differ_and_what_may_not():
    page = ["=== Trying 127.0.0.1:40467...", "1 result: 1 pass in 0.0s", "Tested at 2026-11-22 19:57:07"]
    assert (
        matches(
            page, "=== Trying 127.0.0.1:51234...\n1 result: 1 pass in 12.5s\nTested at 2027-01-01 00:00:00\n"
        )
        is None
    )
    assert matches(
        page, "=== Trying 127.0.0.1:51234...\n2 results: 2 pass in 0.1s\nTested at 2027-01-01 00:00:00\n"
    )
    assert matches(["a", "...", "z"], "a\nb\nc\nz\n") is None
    assert matches(["a", "z"], "a\nb\nz\n")  # nothing left out without `...`
    assert matches(["a"], "a\nmore\n")  # output the page does not show
    assert matches(["a ...", "z"], "a b c\nz\n") is None
    assert matches([], "") is None
    # what follows ids, pids and generated secrets may differ; the words around them may not
    assert (
        matches(
            ["-> MAIL FROM:<a@b.test> SIZE=262", "(pid 2244)"], "-> MAIL FROM:<a@b.test> SIZE=263\n(pid 9)\n"
        )
        is None
    )
    assert matches(["-> MAIL FROM:<a@b.test> SIZE=262"], "-> MAIL FROM:<b@b.test> SIZE=262\n")
    assert (
        matches(
            ["<-  250 2.0.0 <a@lab.test> AN3pFW1RCmupBwAAg+zDdQ:R2 Saved"],
            "<-  250 2.0.0 <a@lab.test> sExhC29hCmtLSgAAg+zDdQ:R2 Saved\n",
        )
        is None
    )
    assert (  # a session id may begin with '+' or '/', which is no word boundary
        matches(["<-  250 2.0.0 <a@lab.test> AN3pFW1RCmupBwAAg+zDdQ Saved"], "<-  250 2.0.0 <a@lab.test> +ORpE+VtCmsKGQAAg+zDdQ Saved\n")
        is None
    )
    assert matches(["lab: AUTH users: user/sKhriE4BC47VflJn"], "lab: AUTH users: admin/x\n")
    assert matches(["rate 20/s"], "rate 100/s\n")  # a rate the user chose is compared
    assert matches([], "output the page does not show\n")  # a block with no output shown is no wildcard


def test_no_example_pins_a_port():
    """A command in the docs uses $PORT (or port 1, where nothing listens), never a number that is free only
    on the author's machine."""
    pinned = re.compile(r"(:|=|--port\s+|-p\s+)\d{4,5}\b")
    for example in examples():
        for command in example.commands:
            assert not pinned.search(command.text), (example.id, command.text)
