from xraybot.cli.app import main

main()
