from nsynth.cli import main

main()
