from smtpprobe.cli.launch import main

main()
