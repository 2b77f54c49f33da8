"""`smtpprobe audit`: a sender domain's SPF, DKIM, DMARC and sending-host DNS, checked and explained.

Layout: `resolver` is the only module that does DNS I/O; `spf`, `dkim`, `dmarc`, `tags` are pure parsers;
`*check` modules fetch through the resolver and turn parsed data into `findings`; `run` ties them
together concurrently; `render` prints. Nothing here is imported by `import smtpprobe`.
"""
