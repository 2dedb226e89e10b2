from crmctl.cli import main

main()
