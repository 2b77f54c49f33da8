from smtpprobe.cli import main

main()
