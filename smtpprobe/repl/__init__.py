"""`smtpprobe repl`: an interactive, telnet-style SMTP session.

interpret.py  what a typed line means; the conversation state (pure logic)
engine.py     runs lines and slash commands on the session; exit status
connection.py the session with a silent poll, and the background reader
terminal.py   prompt_toolkit front end;  piped.py  standard input not a terminal
notes.py      the note under each reply and /explain;  history.py  where history lives
"""
