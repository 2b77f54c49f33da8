"""`smtpprobe doctor`: the sender's self-check before writing to a receiving admin.

Layout (pure logic apart from `sender` and `probe`, which do DNS and SMTP I/O):

- `plan`     -- Options, validation, `--port` role parsing (`25,587,465` or `mx=2525,submission=5870`).
- `sender`   -- checks of the sender's side: HELO form, then the audit (SPF, DKIM, DMARC, PTR, HELO, DNSBL).
- `target`   -- where to connect: `--server`, or the MX of the `--to` domain through the audit's resolver.
- `probe`    -- one SMTP conversation per port, with the user's HELO and sender, stopping after RCPT.
- `verdict`  -- each finding and each refusal sorted into "your side", "their policy", "undetermined".
- `report`   -- the result as data; `markdown` and `html` render it for attaching to a message.
- `run`      -- `run_doctor(Options) -> DoctorReport`, tying the above together.

Python API::

    from smtpprobe.doctor.plan import Options
    from smtpprobe.doctor.run import run_doctor
    from smtpprobe.doctor.markdown import render_markdown
    from smtpprobe.doctor.html import render_html

    report = run_doctor(Options(sender="alice@example.org", ip="192.0.2.25", helo="mail.example.org",
                                server="mx.example.net", ports="25"))
    report.exit_code          # 0 nothing wrong on the sender's side, 1 a fault there, 3 no port reachable
    report.verdict.yours      # list[Item]: faults on the sender's side, each with its fix
    report.verdict.theirs     # refusals that are the receiver's policy
    report.verdict.unclear    # refusals either side may cause (the admin's log decides)
    report.verdict.verified   # what passed
"""
