"""TLS posture of a mail server port: versions, suites, groups, certificate (scan); DANE and MTA-STS.

hello.py is sans-I/O (ClientHello out, ServerHello/alert in); probe.py does the sockets; scan.py asks the
questions; grade.py judges versions and suites (RFC 8996, RFC 9325); preference.py reads whose cipher order
wins; features.py reads renegotiation, compression and heartbeat from a ServerHello; certinfo.py describes
the chain.
"""
