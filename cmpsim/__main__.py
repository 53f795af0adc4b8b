from cmpsim.cli import main

main()
